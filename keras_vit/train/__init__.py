"""Training: `keras_vit.train(recipe, **overrides)` and the pieces it is made of.

    >>> summary = keras_vit.train("mnist_vit", epochs=3, output_dir="runs/mnist")
    >>> strategy = keras_vit.train.make_strategy("mirrored")
    >>> recipe = keras_vit.train.load_recipe("deit_adamw", model={"name": "vit_s16", "num_classes": 37})

This package is itself callable (`keras_vit.train(...)` calls `keras_vit.train.fit.train`), so that the function and
its helpers live under one name.
"""

import sys
import types

from keras_vit.train.callbacks import EpochLog, last_checkpoint, make_callbacks
from keras_vit.train.fit import ResumeError, TrainingDiverged, train
from keras_vit.train.optimizers import layer_decay_scales, make_optimizer, no_weight_decay
from keras_vit.train.recipe import Recipe, RecipeError, list_recipes, load_recipe
from keras_vit.train.schedules import WarmupConstant, WarmupCosine, make_schedule
from keras_vit.train.strategy import (
    StrategyError,
    check_global_batch,
    default_jit_compile,
    global_batch_size,
    is_chief,
    make_strategy,
)


class _CallableModule(types.ModuleType):
    __call__ = staticmethod(train)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "EpochLog", "Recipe", "RecipeError", "ResumeError", "StrategyError", "TrainingDiverged", "WarmupConstant",
    "WarmupCosine", "check_global_batch", "default_jit_compile", "global_batch_size", "is_chief", "last_checkpoint",
    "layer_decay_scales", "list_recipes", "load_recipe", "make_callbacks", "make_optimizer", "make_schedule",
    "make_strategy", "no_weight_decay", "train",
]
