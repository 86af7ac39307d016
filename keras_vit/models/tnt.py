"""The Transformer in Transformer family (TNT-S, TNT-B)."""

from __future__ import annotations

import keras

from keras_vit.layers import _checks, _rematerialize
from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.classifier_head import ClassifierHead
from keras_vit.layers.pixel_embed import PixelEmbed, check_pixel_grid
from keras_vit.layers.pixel_position import PixelPosition
from keras_vit.layers.pixel_projection import PixelProjection
from keras_vit.layers.tnt_block import TNTBlock
from keras_vit.models.zoo_model import ZooModel
from keras_vit.registry import register, registry

POOLINGS = ("token", "gap", "none")


@register("model", "tnt")
class TNT(ZooModel):
    """Transformer in Transformer: every patch ("visual sentence") is cut into words ("visual words"); in each block
    an inner transformer runs over the words of every patch, its output is projected and added to the patch tokens,
    and an outer transformer runs over the class token and the patches.

    Layers: `pixel_embed` (PixelEmbed), `pixel_position` (PixelPosition, when use_pixel_position),
    `patch_projection` (PixelProjection with bias: the initial patch tokens from the words), `class_token`,
    `patch_position` (LearnedPosition1D over class token + patches, when use_patch_position), `block_{i}`
    (TNTBlock), `encoder_norm`, `pooling`, `head`.

    Args:
        image_size: int or (height, width) of the input images; a multiple of patch_size.
        patch_size: int or (height, width) of a patch in pixels; a multiple of pixel_stride.
        num_channels: int, image channels.
        hidden_dim: int, patch token width D (outer transformer).
        num_layers: int, TNT blocks.
        num_heads: int, outer attention heads; must divide hidden_dim.
        intermediate_dim: int, outer MLP width.
        inner_dim: int, word width d (inner transformer).
        inner_num_heads: int, inner attention heads; must divide inner_dim.
        inner_intermediate_dim: int, inner MLP width.
        pixel_stride: int, stride of the word convolution: a patch gives (patch_size / pixel_stride)^2 words.
        pixel_kernel_size: odd int, kernel of the word convolution (7 as released; it pads kernel // 2 per side).
        use_patch_position: bool, add a learned position table over the class token and the patches.
        use_pixel_position: bool, add a learned position table over the words of a patch, shared by all patches.
        pooling: "token" (class token), "gap" (mean of the patch tokens) or "none" (the token sequence; needs
            num_classes=0).
        num_classes: int, classifier outputs; 0 returns the pooled features (the backbone).
        classifier_activation: None (logits) or an activation name such as "softmax".
        dropout_rate, attention_dropout_rate, drop_path_rate: floats; stochastic depth grows linearly from 0 at
            the first block to drop_path_rate at the last.
        layer_norm_epsilon: float, 1e-5 as released.
        use_qkv_bias: bool, False as released.
        use_approximate_gelu: bool.
        rematerialize: bool (default False): blocks recompute their activations in the backward pass instead of
            keeping them while training: ViT-Ti/16 b32 training used 35-37% less memory and 0-24% more time per
            step on CPU (two benchmark runs, docs/speed.md).
            Needs dropout_rate, attention_dropout_rate and drop_path_rate of 0.

    Call arguments:
        images: float tensor of shape (batch, height, width, num_channels), normalized as the weights expect (the
            released TNT weights use mean = std = 0.5).

    Returns:
        (batch, num_classes) logits; (batch, hidden_dim) features when num_classes=0; (batch, 1 + num_patches,
        hidden_dim) tokens when pooling="none".

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021.
    """

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        num_channels=3,
        hidden_dim=384,
        num_layers=12,
        num_heads=6,
        intermediate_dim=1536,
        inner_dim=24,
        inner_num_heads=4,
        inner_intermediate_dim=96,
        pixel_stride=4,
        pixel_kernel_size=7,
        use_patch_position=True,
        use_pixel_position=True,
        pooling="token",
        num_classes=1000,
        classifier_activation=None,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-5,
        use_qkv_bias=False,
        use_approximate_gelu=False,
        rematerialize=False,
        name="tnt",
        dtype=None,
        **kwargs,
    ):
        image_size = _checks.pair("image_size", image_size)
        patch_size = _checks.pair("patch_size", patch_size)
        self.check_hyperparameters(**{k: v for k, v in locals().items() if k in self.config_names()})
        grid = (image_size[0] // patch_size[0], image_size[1] // patch_size[1])
        word_grid = (patch_size[0] // pixel_stride, patch_size[1] // pixel_stride)

        images = keras.Input((image_size[0], image_size[1], num_channels), name="images", dtype="float32")
        words = PixelEmbed(
            patch_size, inner_dim, pixel_stride, pixel_kernel_size, dtype=dtype, name="pixel_embed"
        )(images)
        if use_pixel_position:
            words = PixelPosition(word_grid, dtype=dtype, name="pixel_position")(words)
        tokens = PixelProjection(
            hidden_dim, use_bias=True, layer_norm_epsilon=layer_norm_epsilon, dtype=dtype, name="patch_projection"
        )(words)
        tokens = ClassToken(dtype=dtype, name="class_token")(tokens)
        if use_patch_position:
            position_cls = registry("position").get("learned_1d")
            tokens = position_cls(grid_size=grid, num_prefix_tokens=1, dtype=dtype, name="patch_position")(tokens)
        tokens = keras.layers.Dropout(dropout_rate, dtype=dtype, name="dropout")(tokens)
        for index in range(num_layers):
            words, tokens = TNTBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                inner_dim,
                inner_num_heads,
                inner_intermediate_dim,
                num_prefix_tokens=1,
                dropout_rate=dropout_rate,
                attention_dropout_rate=attention_dropout_rate,
                drop_path_rate=drop_path_rate * index / max(num_layers - 1, 1),
                layer_norm_epsilon=layer_norm_epsilon,
                use_qkv_bias=use_qkv_bias,
                use_approximate_gelu=use_approximate_gelu,
                rematerialize=rematerialize,
                dtype=dtype,
                name=f"block_{index}",
            )([words, tokens])
        x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_norm")(tokens)
        if pooling == "token":
            x = registry("pooling").get("token")(dtype=dtype, name="pooling")(x)
        elif pooling == "gap":
            x = registry("pooling").get("gap")(1, dtype=dtype, name="pooling")(x)
        if num_classes:
            x = ClassifierHead(num_classes, activation=classifier_activation, dtype=dtype, name="head")(x)

        super().__init__(inputs=images, outputs=x, name=name, **kwargs)
        self._store_config(locals())
        self.grid_size = grid
        self.word_grid_size = word_grid
        self.num_prefix_tokens = 1

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
        inner_dim = _checks.positive_int("inner_dim", config["inner_dim"])
        inner_num_heads = _checks.positive_int("inner_num_heads", config["inner_num_heads"])
        _checks.divisible("inner_dim", inner_dim, "inner_num_heads", inner_num_heads)
        _checks.positive_int("inner_intermediate_dim", config["inner_intermediate_dim"])
        pixel_stride = _checks.positive_int("pixel_stride", config["pixel_stride"])
        pixel_kernel_size = _checks.positive_int("pixel_kernel_size", config["pixel_kernel_size"])
        for key in ("use_patch_position", "use_pixel_position", "use_qkv_bias", "use_approximate_gelu"):
            if not isinstance(config[key], bool):
                raise ValueError(f"`{key}` must be true or false; received {config[key]!r}.")
        for axis, side in enumerate(("height", "width")):
            if image_size[axis] % patch_size[axis]:
                raise ValueError(
                    f"image_size {side} {image_size[axis]} is not divisible by the patch {side} {patch_size[axis]}: "
                    f"choose an image_size that is a multiple of {patch_size[axis]}."
                )
        check_pixel_grid(patch_size, pixel_stride, pixel_kernel_size)
        pooling = _checks.one_of("pooling", config["pooling"], POOLINGS)
        num_classes = config["num_classes"]
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"`num_classes` must be a non-negative integer (0 for no head); received {num_classes!r}.")
        if pooling == "none" and num_classes:
            raise ValueError("pooling='none' returns the token sequence and cannot feed a classifier: set num_classes=0.")
        for key in ("dropout_rate", "attention_dropout_rate", "drop_path_rate"):
            _checks.rate(key, config[key])
        _rematerialize.check(
            config["rematerialize"],
            **{key: config[key] for key in ("dropout_rate", "attention_dropout_rate", "drop_path_rate")},
        )
        _checks.positive_float("layer_norm_epsilon", config["layer_norm_epsilon"])
