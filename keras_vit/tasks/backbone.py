"""A zoo model as the backbone of a task model: its last block's tokens and what its layout says about them."""

from pathlib import Path
from types import MappingProxyType

from keras_vit.models.features import feature_extractor
from keras_vit.models.layout import ModelLayout
from keras_vit.schema import Field
from keras_vit.zoo import create

# A task spec's `backbone:` a zoo name, or {name: <zoo name>, <its hyperparameter overrides>}.
BACKBONE = Field("a zoo model name or a mapping {name: <zoo model>, <hyperparameter overrides>}",
                 lambda v: isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("name"), str)))
BACKBONE_WEIGHTS = Field("null or a checkpoint path that keras_vit.create reads",
                         lambda v: v is None or isinstance(v, str))


def build_backbone(backbone, backbone_weights=None, dtype=None):
    """(tokens model, layout): the zoo backbone without its classifier, cut after its last block.

    Args:
        backbone: a zoo name or {"name": zoo name, **hyperparameter overrides}.
        backbone_weights: None, or any checkpoint `keras_vit.create(..., weights=...)` reads (a classification
            `.keras` of ours, timm's safetensors, the original `.npz`), loaded into the backbone.
        dtype: the layers' dtype policy.

    Returns:
        A model from images (batch, height, width, channels) to the last block's tokens (batch, prefix + rows *
        columns, hidden_dim), sharing the backbone's weights, and the backbone's `ModelLayout`.

    Raises:
        ValueError: a backbone without a patch grid (a ResNet), or one made for any image size.
    """
    if isinstance(backbone_weights, str) and backbone_weights.endswith(".keras") and not Path(backbone_weights).is_file():
        # A training run's model (runs/<recipe>/model.keras): say which command writes it.
        run = Path(backbone_weights).parent.name
        raise FileNotFoundError(
            f"backbone_weights {backbone_weights!r} does not exist. A training run writes its model there: "
            f"`keras-vit train --recipe {run} --set run.output_dir={Path(backbone_weights).parent}` (when {run!r} is "
            f"a recipe), or give the path of another classifier of this backbone (backbone_weights=None: random).")
    config = {"name": backbone} if isinstance(backbone, str) else dict(backbone)
    name = config.pop("name")
    model = create(name, weights=backbone_weights, include_top=False, name_override="backbone", dtype=dtype, **config)
    layout = model.layout
    if not layout.patch_size:
        raise ValueError(f"Backbone {name!r} has no patch grid (a ResNet's feature maps are not tokens): task models "
                         f"take a ViT, DeiT, hybrid or TNT backbone (keras_vit.list_models()).")
    if layout.dynamic_image_size:
        raise ValueError(f"Backbone {name!r} is made for any image size (dynamic_image_size=True); task models take "
                         f"one fixed size: set dynamic_image_size=False and image_size.")
    tokens_model = feature_extractor(model, block_indices=[-1])
    # With a checkpoint, hyperparameters the spec left open follow it (width, depth, channels): the task model stores
    # them all, so that its saved file rebuilds this backbone without reading the checkpoint again.
    tokens_model.resolved_backbone = {"name": name, **{k: v for k, v in model.get_config().items() if k not in _UNSTORED}}
    return tokens_model, layout


_UNSTORED = ("name", "trainable", "dtype", "num_classes", "representation_dim", "classifier_activation")


def without_weights_path(config, tokens_model):
    """A task model's stored config with `backbone_weights` cleared: a saved task model holds its weights itself,
    and reloading it must not read the checkpoint it started from. The backbone is stored as built (`build_backbone`)
    when a checkpoint chose some of its hyperparameters."""
    backbone = tokens_model.resolved_backbone if config["backbone_weights"] else config["backbone"]
    return MappingProxyType({**config, "backbone_weights": None, "backbone": backbone})


def task_layout(tokens_model, layout):
    """What a task model publishes about itself: its backbone's grid and patches, the layer running the backbone."""
    return ModelLayout(stem=(tokens_model.name,), grid_size=layout.grid_size, patch_size=layout.patch_size,
                       stem_stride=layout.stem_stride, num_prefix_tokens=layout.num_prefix_tokens, head="head",
                       backbone=tokens_model.name)
