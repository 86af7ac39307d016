"""`keras_vit.train(recipe, **overrides)`: strategy, data, model and optimizer from a recipe, then `model.fit`."""

import functools
import itertools
import json
import math
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from keras_vit.lora import enable_lora, save_adapters
from keras_vit.models import HardDistillation
from keras_vit.spec.model_spec import thaw
from keras_vit.train.callbacks import (
    EpochLog,
    TrainingDiverged,
    _write_atomically,
    last_checkpoint,
    make_callbacks,
    read_backup,
    restore_backup,
)
from keras_vit.train.optimizers import make_optimizer
from keras_vit.train.recipe import DATA_SOURCE, NOT_HYPERPARAMETERS, load_recipe
from keras_vit.train.schedules import make_schedule
from keras_vit.train.strategy import check_global_batch, default_jit_compile, is_chief, make_strategy
from keras_vit.zoo import create


class TrainSummary(dict):
    """The JSON summary of a run (a dict), with the trained model as `.model`."""


class ResumeError(ValueError):
    """The output folder holds an unfinished run of another recipe; the message names the keys that differ."""


# Recipe keys that say how a run is watched or where it runs, not what it computes: a resumed run may change them.
_FREE_ON_RESUME = ("description", "run.verbose", "run.tensorboard", "run.keep_checkpoints", "run.overwrite",
                   "run.output_dir", "run.strategy", "run.devices", "run.tpu_address")


# The data section's keys that make_pipeline takes besides the normalization.
_AUGMENTATION = ("random_crop", "crop_scale", "horizontal_flip", "rand_augment", "mixup_alpha", "cutmix_alpha",
                 "label_smoothing", "shuffle_buffer")


def _flat(recipe_dict):
    """{"section.key": value} for the recipe's sections, {"name": ...} for its top-level keys."""
    flat = {key: value for key, value in recipe_dict.items() if not isinstance(value, dict)}
    flat.update({f"{key}.{inner}": v for key, value in recipe_dict.items() if isinstance(value, dict)
                 for inner, v in value.items()})
    return flat


def _changes(saved, recipe):
    """"key: old in that run, new now" for each key (section.key) whose value differs between a saved recipe.json
    and `recipe`."""
    old, new = _flat(saved), _flat(recipe.to_dict())
    # Compared as JSON, as recipe.json holds them: a tuple equals its list, NaN equals NaN.
    shown = {key: [json.dumps(flat[key], default=str, sort_keys=True) if key in flat else "(not set)" for flat in (old, new)]
             for key in sorted(old.keys() | new.keys()) if key not in _FREE_ON_RESUME}
    return [f"{key}: {then} in that run, {now} now" for key, (then, now) in shown.items() if then != now]


def _moved_aside(output_dir):
    """Renames a non-empty `output_dir` to `<output_dir>.replaced_<date>-<time>` (never deletes) and returns the new
    path, or None when there was nothing to move."""
    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return None
    stamp = f"{output_dir.name}.replaced_{time.strftime('%Y%m%d-%H%M%S')}"
    targets = (output_dir.with_name(stamp if n == 1 else f"{stamp}_{n}") for n in itertools.count(1))
    target = next(target for target in targets if not target.exists())
    output_dir.rename(target)
    return target


def _check_output_dir(recipe, output_dir):
    """Refuses to mix runs in one folder. Returns True when the folder holds an unfinished run of this recipe
    (whose recipe.json stays as it is)."""
    finished = (output_dir / "summary.json").exists() and not (output_dir / "backup").exists()
    if finished and not recipe.run["overwrite"]:
        raise ValueError(
            f"{output_dir} holds a finished run (summary.json): choose another output_dir, set run.overwrite "
            f"(overwrite=True, --set run.overwrite=true) to replace its model, checkpoints and summary, or start "
            f"over (start_over=True, --start_over) to move the old run aside first."
        )
    path = output_dir / "recipe.json"
    if finished or not path.exists():
        return False
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResumeError(f"{output_dir} holds an unfinished run whose {path.name} cannot be read ({error}): choose "
                          f"another output_dir, or start over (start_over=True, --start_over), which moves the "
                          f"unfinished run aside.") from None
    changes = _changes(saved, recipe)
    if changes:
        raise ResumeError(
            f"{output_dir} holds an unfinished run of another recipe ({path.name}): {'; '.join(changes)}. Run the same recipe "
            f"again to resume it, choose another output_dir, or start over (start_over=True, --start_over): the "
            f"unfinished run's folder is then renamed to {output_dir.name}.replaced_<date>-<time> and a new run starts."
        )
    return True


def _pipelines(recipe, train_data, eval_data, model, batch, start_batch=0):
    from keras_vit.data import make_pipeline

    if hasattr(train_data, "pipelines"):  # a task model's data source
        return train_data.pipelines(model, batch_size=batch, start_batch=start_batch)
    data = recipe.data
    # The held-out stream takes the same settings: its labels are one-hot where the training labels are.
    common = {"image_size": model.get_config()["image_size"], "batch_size": batch, "mean": data["mean"], "std": data["std"],
              "seed": recipe.run["seed"], **{key: data[key] for key in _AUGMENTATION}}
    train = make_pipeline(train_data, training=True, repeat=True, start_batch=start_batch, **common)
    return train, (make_pipeline(eval_data, training=False, **common) if eval_data is not None else None)


def _load_data(recipe, num_channels):
    from keras_vit.data import load_dataset

    data = recipe.data
    if isinstance(data["source"], dict):  # a task model's data source: it makes both streams once the model exists
        return DATA_SOURCE.build(data["source"], {"seed": recipe.run["seed"], "mean": data["mean"], "std": data["std"]}), None
    load = functools.partial(load_dataset, data["source"], data_dir=data["data_dir"], seed=recipe.run["seed"],
                             unreadable_images=data["unreadable_images"])
    train = load(split=data["train_split"], num_channels=num_channels)
    return train, (load(split=data["eval_split"], num_channels=train.num_channels) if data["eval_split"] else None)


def train(recipe="mnist_vit", overrides=None, *, callbacks=None, start_over=False, **kwargs):
    """Trains a zoo model as a recipe says and returns the run's summary.

    Args:
        recipe: a recipe name from `registry/recipes/` ("mnist_vit", "vit_finetune_sgd", "deit_adamw"), a YAML path, a
            mapping, or a `Recipe`.
        overrides: {"section.key": value} or {"section": {...}} overrides.
        callbacks: extra Keras callbacks, run after keras_vit's own.
        start_over: when the output folder holds a run (unfinished or finished), rename that folder to
            `<output_dir>.replaced_<date>-<time>` and start a new run; without it, an unfinished run of the same
            recipe resumes where it stopped and one of another recipe is an error (ResumeError).
        **kwargs: overrides by bare key when the key belongs to one section: epochs=3, batch_size=128,
            learning_rate=1e-3, output_dir="runs/x", strategy="mirrored", mixed_precision="mixed_bfloat16"; or a
            whole section, model={"name": "vit_s16", "num_classes": 37}.

    Returns:
        A TrainSummary: a dict (also written to `<output_dir>/summary.json` by the chief): accuracy and loss on the held-out split,
        training accuracy, optimizer steps, wall seconds, training images/s, the saved model path
        (`<output_dir>/model.keras`), the last checkpoint, strategy, replicas, global batch and the recipe itself; `.model` is the trained model.

    Raises:
        RecipeError: a bad recipe or override (before anything runs).
        StrategyError: an unknown strategy, or a batch that does not divide over the replicas (before training).
        ValueError: bad data (unknown dataset, missing folder, empty class folder), before training.
        ResumeError: the output folder holds an unfinished run of another recipe (before anything runs).
        TrainingDiverged: the loss became NaN; the last good checkpoint stays in `<output_dir>/checkpoints`.

    Resuming: a run that stopped (killed, preempted) resumes when started again with the same recipe and output
    folder, from the backup of its last finished epoch, and ends bit-identical to a run that never stopped (the same
    steps on the same batches: the training stream is a pure function of the seed, see `make_pipeline`).
    """
    recipe = load_recipe(recipe, overrides, **kwargs)
    run = recipe.run
    # The strategy comes first: a multi-worker strategy must be made before other TensorFlow work in the process.
    strategy = make_strategy(run["strategy"], devices=run["devices"], tpu_address=run["tpu_address"])
    # The recipe holds exactly one of the two, a positive integer.
    batch = run["batch_size"] or run["per_replica_batch_size"] * strategy.num_replicas_in_sync
    check_global_batch(batch, strategy)
    output_dir = Path(recipe.output_dir)
    chief = is_chief(strategy)
    # Only the chief moves a run aside (the other workers' folders are temporary). Without start_over, every worker
    # checks and reads the chief's folder (under multi-worker, on a file system they share), so that all of them
    # refuse, or all resume from the same epoch.
    previous_run = _moved_aside(output_dir) if start_over and chief else None
    same_recipe = not start_over and _check_output_dir(recipe, output_dir)
    backup = None if start_over else read_backup(output_dir / "backup")
    model_overrides = {k: v for k, v in recipe.model.items() if k not in NOT_HYPERPARAMETERS}
    weights = recipe.model.get("weights")
    if weights is not None and not Path(weights).is_file():
        raise ValueError(f"model.weights {weights!r} is not a file: give the path of a checkpoint that "
                         f"keras_vit.weights reads (.npz, .safetensors, .pth, .weights.h5).")
    if recipe.model["teacher"] and not Path(recipe.model["teacher"]).is_file():
        raise ValueError(f"model.teacher {recipe.model['teacher']!r} is not a file: give a trained .keras model "
                         f"(the main job's: keras-vit train --recipe mnist_vit), or null to train without one.")
    keras.utils.set_random_seed(run["seed"])  # weights, shuffles and augmentation repeat with the same seed
    train_data, eval_data = _load_data(recipe, model_overrides.get("num_channels"))
    # The model takes what the data has unless the recipe says otherwise.
    model_overrides.update({k: v for k in ("num_classes", "num_channels")
                            if (v := getattr(train_data, k, None)) and k not in model_overrides})
    with strategy.scope():
        # Fine-tuning: a head of another width is dropped, a position table of another grid resampled.
        model = create(recipe.model["name"], weights=weights, dtype=run["mixed_precision"], **model_overrides)
        if recipe.model["lora"]:
            enable_lora(model, **thaw(recipe.model["lora"]))
        # With a teacher, `fitted` trains `model` (the student) against it; `model` is what is evaluated and saved.
        teacher = recipe.model["teacher"]
        fitted = HardDistillation(model, keras.saving.load_model(teacher)) if teacher else model
    if not (run["steps_per_epoch"] or train_data.num_examples):
        raise ValueError("The training data does not say how many examples it has: set run.steps_per_epoch.")
    steps = run["steps_per_epoch"] or train_data.num_examples // batch
    if steps == 0:
        raise ValueError(f"The training split has {train_data.num_examples} examples, fewer than one global batch of "
                         f"{batch}: lower the batch size.")
    one_hot = recipe.data["mixup_alpha"] > 0 or recipe.data["cutmix_alpha"] > 0 or recipe.data["label_smoothing"] > 0
    initial_epoch = min(backup["epochs_done"], run["epochs"]) if backup else 0
    # The stream goes on at the first batch of the epoch that did not finish: the same batches as a run that never
    # stopped. Keras runs whole executions, so an epoch takes steps_per_epoch rounded up to steps_per_execution.
    batches_per_epoch = math.ceil(steps / run["steps_per_execution"]) * run["steps_per_execution"]
    train_ds, eval_ds = _pipelines(recipe, train_data, eval_data, model, batch, start_batch=initial_epoch * batches_per_epoch)

    # Only the chief writes into output_dir; the other workers write into a temporary folder, removed at the end.
    root = output_dir if chief else Path(tempfile.mkdtemp(prefix="keras_vit_worker_"))
    own = make_callbacks(root, tensorboard=run["tensorboard"], global_batch_size=batch, steps_per_epoch=steps,
                         keep_checkpoints=run["keep_checkpoints"])
    if chief and not same_recipe:
        _write_atomically(root / "recipe.json", json.dumps(recipe.to_dict(), indent=2, default=str) + "\n")

    schedule = recipe.schedule
    warmup = (schedule["warmup_steps"] if schedule["warmup_epochs"] is None
              else int(round(schedule["warmup_epochs"] * steps)))
    lr = make_schedule(schedule["name"], learning_rate=recipe.optimizer["learning_rate"], total_steps=steps * run["epochs"],
                       warmup_steps=warmup, end_learning_rate=schedule["end_learning_rate"])
    with strategy.scope():
        optimizer = make_optimizer(recipe.optimizer, lr, model)
        if run["mixed_precision"] == "mixed_float16":
            # float16 gradients underflow without loss scaling (Keras adds it only when the model's own policy is
            # mixed_float16, which a functional model built with dtype= may not report)
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        from_logits = model.get_config().get("classifier_activation") in (None, "linear")
        loss = (keras.losses.CategoricalCrossentropy(from_logits=from_logits) if one_hot
                else keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
        jit_compile = run["jit_compile"] if run["jit_compile"] != "auto" else default_jit_compile(model, strategy)
        # A task model publishes its own loss and metrics, and jit_compile=False when XLA cannot run its loss.
        compiled = {"loss": loss, "metrics": ["accuracy"], "jit_compile": jit_compile,
                    **(model.compile_arguments() if hasattr(model, "compile_arguments") else {})}
        for target in {id(m): m for m in (fitted, model)}.values():
            target.compile(optimizer=optimizer, steps_per_execution=run["steps_per_execution"], **compiled)
        if backup:
            restore_backup(fitted, backup)  # weights, optimizer state and dropout seeds after `initial_epoch` epochs

    epoch_log = next(c for c in own if isinstance(c, EpochLog))
    start = time.perf_counter()
    try:
        history = fitted.fit(train_ds, epochs=run["epochs"], initial_epoch=initial_epoch, steps_per_epoch=steps,
                            validation_data=eval_ds, validation_steps=run["eval_steps"], verbose=run["verbose"],
                            callbacks=own + list(callbacks or []), shuffle=False)  # the pipeline shuffles
    except TrainingDiverged:
        good = last_checkpoint(root / "checkpoints")
        where = (f"the last good checkpoint is {good} (keras.saving.load_model loads it)" if good
                 else "no epoch finished, so there is no checkpoint")
        epoch = initial_epoch + len(epoch_log.epoch_seconds) + 1
        raise TrainingDiverged(
            f"Training stopped: the loss became NaN or infinite at epoch {epoch}; {where}. "
            f"Lower optimizer.learning_rate, add warm-up or gradient clipping (optimizer.global_clipnorm), or use "
            f"float32 instead of mixed_float16."
        ) from None
    # Throughput after the first epoch (which includes tracing and XLA compilation), when there is one.
    steady = epoch_log.epoch_seconds[1:] or epoch_log.epoch_seconds
    images_per_second = batch * steps * len(steady) / sum(steady) if steady and sum(steady) > 0 else math.nan
    checkpoint = last_checkpoint(root / "checkpoints")
    summary = TrainSummary({
        "recipe": recipe.name, "model": recipe.model["name"], "parameters": int(model.count_params()),
        "trainable_parameters": sum(int(np.prod(v.shape)) for v in model.trainable_weights),
        "epochs": run["epochs"], "resumed_from_epoch": initial_epoch + 1 if initial_epoch else None,
        "optimizer_steps": int(model.optimizer.iterations.numpy()),
        **{f"train_{key}": round(float(values[-1]), 5) for key, values in history.history.items()
           if not key.startswith("val_") and key != "learning_rate"},
        "wall_seconds": round(time.perf_counter() - start, 1), "images_per_second": round(images_per_second, 1),
        "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync, "global_batch_size": batch,
        "mixed_precision": run["mixed_precision"], "last_checkpoint": str(checkpoint) if checkpoint and chief else None,
        "output_dir": str(root) if chief else None, "previous_run": str(previous_run) if previous_run else None,
    })
    if eval_ds is not None:
        results = model.evaluate(eval_ds, steps=run["eval_steps"], verbose=0, return_dict=True)
        summary.update({f"eval_{key}": round(float(value), 5) for key, value in results.items()})
    model_path = root / "model.keras"
    model.save(model_path)  # with LoRA: the merged model (Keras merges adapters into the kernels when saving)
    if recipe.model["lora"] and chief:
        if initial_epoch:  # Keras merged the adapters into the kernels of the backup it resumed from
            warnings.warn("A resumed LoRA run writes no adapters.npz (they would miss the epochs before the "
                          "resume); model.keras holds the whole fine-tuned model.", stacklevel=2)
        else:
            save_adapters(model, root / "adapters.npz")
    if chief:
        summary["model_path"] = str(model_path)
        _write_atomically(root / "summary.json", json.dumps(summary, indent=2) + "\n")
    # Last, the chief's backup (a run killed before this line resumes after its last epoch and only evaluates and
    # saves again) or a worker's temporary folder.
    shutil.rmtree(root / "backup" if chief else root, ignore_errors=True)
    summary.model = model
    return summary

