"""The Vision Transformer family (ViT and, with a convolutional stem, the hybrids)."""

from __future__ import annotations

import keras

from keras_vit.layers import _checks, _rematerialize
from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.classifier_head import ClassifierHead
from keras_vit.layers.relative_position import RelativePosition
from keras_vit.layers.transformer_block import TransformerBlock
from keras_vit.models.zoo_model import ZooModel
from keras_vit.registry import register, registry


def position_encodings():
    """"none" and every registered position encoding (plugins add theirs to the registry)."""
    return ("none", *registry("position").names())
PLACEMENTS = ("stem", "every_layer", "every_layer_shared")
POOLINGS = ("token", "gap", "map", "none")


def resolve_placement(position_encoding, position_placement):
    """The placement a position encoding takes when none is given: at the stem, or for relative attention in every
    layer (each with its own table, as in the ViT paper's ablation)."""
    if position_placement is not None:
        return position_placement
    return "every_layer" if position_encoding == "relative" else "stem"


def stem_output_stride(stem):
    """The total downsampling of a convolutional stem config ({"name": ..., **kwargs}), 1 without a stem."""
    if stem is None:
        return 1
    stem_cls = registry("stem").get(stem["name"])
    return stem_cls.output_stride_of({k: v for k, v in stem.items() if k != "name"})


@register("model", "vit")
class ViT(ZooModel):
    """Vision Transformer: patch embedding, class token, position encoding, `num_layers` pre-norm transformer
    blocks, final LayerNorm, pooling and a classifier (the ViT paper's eq. 1-4).

    With `stem` set (e.g. {"name": "bit_resnet_stem", ...}) a registered convolutional stem runs first and the
    patch embedding tokenizes its feature map: the hybrid models.

    Args:
        image_size: int or (height, width) of the input images.
        patch_size: int or (height, width) of a patch, in pixels of the stem's output (the image without a stem).
        num_channels: int, image channels.
        hidden_dim: int, token width D.
        num_layers: int, transformer blocks L.
        num_heads: int, attention heads; must divide hidden_dim.
        intermediate_dim: int, MLP width.
        position_encoding: "none", "learned_1d", "learned_2d", "sincos_2d", "relative", or a plugin's registered
            position encoding (an `AbsolutePosition` subclass).
        position_placement: "stem" (added once, after the class token), "every_layer" (a table of its own added
            before each block) or "every_layer_shared" (one table added before every block); None takes "stem",
            or "every_layer" for "relative".
        pooling: "token" (class token), "gap" (mean of patch tokens), "map" (attention pooling with a learned
            probe, as big_vision) or "none" (the token sequence; needs num_classes=0).
        use_class_token: bool, whether a class token is prepended.
        num_classes: int, classifier outputs; 0 returns the pooled features (the backbone).
        representation_dim: int or None, the tanh pre-logits layer of the ViT release.
        classifier_activation: None (logits) or an activation name such as "softmax".
        dropout_rate, attention_dropout_rate, drop_path_rate: floats; stochastic depth grows linearly from 0 at
            the first block to drop_path_rate at the last.
        layer_norm_epsilon: float, 1e-6 as in the ViT release.
        use_qkv_bias: bool.
        use_approximate_gelu: bool.
        rematerialize: bool (default False): blocks recompute their activations in the backward pass instead of
            keeping them while training: ViT-Ti/16 b32 training used 35-37% less memory and 0-24% more time per
            step on CPU (two benchmark runs, docs/speed.md).
            Needs dropout_rate, attention_dropout_rate and drop_path_rate of 0.
        stem: None or a dict naming a registered stem and its arguments.

    Call arguments:
        images: float tensor of shape (batch, height, width, num_channels), normalized as the weights expect.

    Returns:
        (batch, num_classes) logits; (batch, hidden_dim) features when num_classes=0; (batch, num_tokens,
        hidden_dim) tokens when pooling="none".

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", 2021.
    """

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        num_channels=3,
        hidden_dim=768,
        num_layers=12,
        num_heads=12,
        intermediate_dim=3072,
        position_encoding="learned_1d",
        position_placement=None,
        pooling="token",
        use_class_token=True,
        num_classes=1000,
        representation_dim=None,
        classifier_activation=None,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-6,
        use_qkv_bias=True,
        use_approximate_gelu=False,
        rematerialize=False,
        stem=None,
        name="vit",
        dtype=None,
        **kwargs,
    ):
        image_size = _checks.pair("image_size", image_size)
        patch_size = _checks.pair("patch_size", patch_size)
        self.check_hyperparameters(**{k: v for k, v in locals().items() if k in self.config_names()})
        placement = resolve_placement(position_encoding, position_placement)
        stride = stem_output_stride(stem)
        grid = (image_size[0] // stride // patch_size[0], image_size[1] // stride // patch_size[1])
        num_prefix = 1 if use_class_token else 0
        num_tokens = num_prefix + grid[0] * grid[1]

        images = keras.Input((image_size[0], image_size[1], num_channels), name="images", dtype="float32")
        x = images
        if stem is not None:
            stem_cls = registry("stem").get(stem["name"])
            x = stem_cls(**{k: v for k, v in stem.items() if k != "name"}, dtype=dtype, name="stem")(x)
        x = registry("patch_embed").get("patch_embed")(patch_size, hidden_dim, dtype=dtype, name="patch_embed")(x)
        if use_class_token:
            x = ClassToken(dtype=dtype, name="class_token")(x)

        def absolute_position(layer_name):
            cls = registry("position").get(position_encoding)
            return cls(grid_size=grid, num_prefix_tokens=num_prefix, dtype=dtype, name=layer_name)

        absolute = position_encoding not in ("none", "relative")
        shared = None
        if absolute and placement in ("stem", "every_layer_shared"):
            shared = absolute_position("position_embedding")
        if absolute and placement == "stem":
            x = shared(x)
        x = keras.layers.Dropout(dropout_rate, dtype=dtype, name="dropout")(x)

        relative_keys = None
        if position_encoding == "relative" and placement == "every_layer_shared":
            relative_keys = RelativePosition(num_tokens, hidden_dim // num_heads, dtype=dtype, name="relative_position")(x)
        for index in range(num_layers):
            if absolute and placement == "every_layer":
                x = absolute_position(f"position_embedding_{index}")(x)
            elif absolute and placement == "every_layer_shared":
                x = shared(x)
            if position_encoding == "relative" and placement == "every_layer":
                relative_keys = RelativePosition(
                    num_tokens, hidden_dim // num_heads, dtype=dtype, name=f"relative_position_{index}"
                )(x)
            block = TransformerBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout_rate=dropout_rate,
                attention_dropout_rate=attention_dropout_rate,
                drop_path_rate=drop_path_rate * index / max(num_layers - 1, 1),
                layer_norm_epsilon=layer_norm_epsilon,
                use_qkv_bias=use_qkv_bias,
                use_approximate_gelu=use_approximate_gelu,
                rematerialize=rematerialize,
                dtype=dtype,
                name=f"block_{index}",
            )
            x = block(x) if relative_keys is None else block(x, relative_keys=relative_keys)
        x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_norm")(x)
        if pooling == "token":
            x = registry("pooling").get("token")(dtype=dtype, name="pooling")(x)
        elif pooling == "gap":
            x = registry("pooling").get("gap")(num_prefix, dtype=dtype, name="pooling")(x)
        elif pooling == "map":
            x = registry("pooling").get("map")(
                num_heads, intermediate_dim, layer_norm_epsilon=layer_norm_epsilon, dtype=dtype, name="pooling"
            )(x)
        if num_classes:
            x = ClassifierHead(
                num_classes,
                representation_dim=representation_dim,
                activation=classifier_activation,
                dtype=dtype,
                name="head",
            )(x)

        super().__init__(inputs=images, outputs=x, name=name, **kwargs)
        self._store_config(locals())
        self.grid_size = grid
        self.num_prefix_tokens = num_prefix

    @staticmethod
    def check_hyperparameters(**config):
        image_size = _checks.pair("image_size", config["image_size"])
        patch_size = _checks.pair("patch_size", config["patch_size"])
        _checks.positive_int("num_channels", config["num_channels"])
        hidden_dim = _checks.positive_int("hidden_dim", config["hidden_dim"])
        _checks.positive_int("num_layers", config["num_layers"])
        num_heads = _checks.positive_int("num_heads", config["num_heads"])
        _checks.divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
        _checks.positive_int("intermediate_dim", config["intermediate_dim"])
        encoding = _checks.one_of("position_encoding", config["position_encoding"], position_encodings())
        if config["position_placement"] is not None:
            placement = _checks.one_of("position_placement", config["position_placement"], PLACEMENTS)
            if encoding == "none":
                raise ValueError(
                    f"position_encoding='none' adds no position information, so position_placement must be left "
                    f"unset (None); received {placement!r}."
                )
            if encoding == "relative" and placement == "stem":
                raise ValueError(
                    "position_encoding='relative' acts inside every attention layer and cannot be placed at the "
                    "stem: use position_placement='every_layer' (a table per layer) or 'every_layer_shared'."
                )
        if encoding == "sincos_2d" and hidden_dim % 4:
            raise ValueError(f"position_encoding='sincos_2d' needs hidden_dim divisible by 4; received {hidden_dim}.")
        pooling = _checks.one_of("pooling", config["pooling"], POOLINGS)
        num_classes = config["num_classes"]
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"`num_classes` must be a non-negative integer (0 for no head); received {num_classes!r}.")
        if pooling == "none" and num_classes:
            raise ValueError("pooling='none' returns the token sequence and cannot feed a classifier: set num_classes=0.")
        if pooling == "token" and not config["use_class_token"]:
            raise ValueError("pooling='token' needs the class token: set use_class_token=True or pooling='gap'.")
        for key in ("dropout_rate", "attention_dropout_rate", "drop_path_rate"):
            _checks.rate(key, config[key])
        _rematerialize.check(
            config["rematerialize"],
            **{key: config[key] for key in ("dropout_rate", "attention_dropout_rate", "drop_path_rate")},
        )
        _checks.positive_float("layer_norm_epsilon", config["layer_norm_epsilon"])
        stem = config["stem"]
        if stem is not None and (not isinstance(stem, dict) or "name" not in stem):
            raise ValueError(f"`stem` must be None or a mapping with a 'name' key; received {stem!r}.")
        stride = stem_output_stride(stem)
        for axis, side in enumerate(("height", "width")):
            if image_size[axis] % (stride * patch_size[axis]):
                raise ValueError(
                    f"image_size {side} {image_size[axis]} is not divisible by the patch size {patch_size[axis]}"
                    + (f" times the stem's stride {stride}" if stride > 1 else "")
                    + f": choose an image_size that is a multiple of {stride * patch_size[axis]}."
                )
