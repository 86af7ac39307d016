"""The Transformer in Transformer family (TNT-S, TNT-B)."""

import keras

from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.pixel_projection import PixelProjection
from keras_vit.layers.slots import ATTENTION, MLP, NORM
from keras_vit.models import vit
from keras_vit.models.layout import ModelLayout, PositionTable, built_fields
from keras_vit.models.zoo_model import ZooModel, provided
from keras_vit.registry import Slot, register
from keras_vit.schema import check_family_arguments, divisible, pair, tiling


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
            keeping them while training, less memory for more time (docs/speed.md). Needs dropout_rate,
            attention_dropout_rate and drop_path_rate of 0.
        pixel_embed, pixel_position, patch_position, block, attention, mlp, norm, pooling, head: the registered
            components of these slots, each a name or {name: ..., <argument>: ...} (defaults "pixel_embed",
            "pixel_position", "learned_1d", "tnt_block", "msa", "mlp", "layer_norm", "token", "classifier");
            attention, mlp and norm fill both the inner and the outer transformer.
        dynamic_image_size: bool (default False): True takes images of any height and width that patch_size
            divides; the patch position table made for image_size is resampled in the graph for the grid at hand
            (the class token's row untouched). The pixel position table covers the words of one patch, which do
            not change with the image size. At image_size the outputs are exactly the fixed-size model's.
        position_interpolation: "bilinear" (align corners) or "bicubic" (timm's: PyTorch's antialiased bicubic),
            how a dynamic model resamples the patch position table; `keras_vit.create(name, weights=...)` takes
            the checkpoint source's.

    Call arguments:
        images: float tensor of shape (batch, height, width, num_channels), normalized as the weights expect (the
            released TNT weights use mean = std = 0.5).

    Returns:
        (batch, num_classes) logits; (batch, hidden_dim) features when num_classes=0; (batch, 1 + num_patches,
        hidden_dim) tokens when pooling="none".

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021.
    """

    SLOTS = {
        "pixel_embed": Slot("patch_embed", "pixel_embed", interface="words",
                            provided=("patch_size", "inner_dim", "pixel_stride", "pixel_kernel_size")),
        "pixel_position": Slot("position", "pixel_position", interface="words", provided=("grid_size",)),
        "patch_position": Slot("position", "learned_1d", interface="tokens",
                               provided=("grid_size", "num_prefix_tokens", "interpolation")),
        "block": Slot("block", "tnt_block", interface="words_and_tokens", provided=(
            "hidden_dim", "num_heads", "intermediate_dim", "inner_dim", "inner_num_heads", "inner_intermediate_dim",
            "num_prefix_tokens", "dropout_rate", "attention_dropout_rate", "drop_path_rate", "layer_norm_epsilon",
            "use_qkv_bias", "use_approximate_gelu", "rematerialize", "attention", "mlp", "norm",
        )),
        "attention": ATTENTION,
        "mlp": MLP,
        "norm": NORM,
        "pooling": vit.ViT.SLOTS["pooling"],
        "head": vit.ViT.SLOTS["head"],
    }
    FIELDS = {**SLOTS, "position_interpolation": vit.ViT.FIELDS["position_interpolation"]}  # the others: GLOSSARY

    def __init__(self, image_size=224, patch_size=16, num_channels=3, hidden_dim=384, num_layers=12, num_heads=6,
                 intermediate_dim=1536, inner_dim=24, inner_num_heads=4, inner_intermediate_dim=96, pixel_stride=4,
                 pixel_kernel_size=7, use_patch_position=True, use_pixel_position=True, pooling="token",
                 num_classes=1000, classifier_activation=None, dropout_rate=0.0, attention_dropout_rate=0.0,
                 drop_path_rate=0.0, layer_norm_epsilon=1e-5, use_qkv_bias=False, use_approximate_gelu=False,
                 rematerialize=False, pixel_embed="pixel_embed", pixel_position="pixel_position",
                 patch_position="learned_1d", block="tnt_block", attention="msa", mlp="mlp", norm="layer_norm",
                 head="classifier", dynamic_image_size=False, position_interpolation="bilinear", name="tnt",
                 dtype=None, **kwargs):
        check_family_arguments(type(self), locals())
        slots = self.SLOTS
        image_size, patch_size = pair(image_size), pair(patch_size)
        grid = (image_size[0] // patch_size[0], image_size[1] // patch_size[1])
        word_grid = (patch_size[0] // pixel_stride, patch_size[1] // pixel_stride)
        values = {**locals(), "num_prefix_tokens": 1}

        images, x, patch_grid = vit.image_input(values, patch_size)
        words = slots["pixel_embed"].build(pixel_embed, provided(slots["pixel_embed"], values), dtype=dtype,
                                           name="pixel_embed")(x)
        stem = ["pixel_embed", "patch_projection", "class_token"]
        if use_pixel_position:
            words = slots["pixel_position"].build(pixel_position, {"grid_size": word_grid}, dtype=dtype,
                                                  name="pixel_position")(words)
            stem.append("pixel_position")
        tokens = PixelProjection(hidden_dim, use_bias=True, layer_norm_epsilon=layer_norm_epsilon, dtype=dtype,
                                 name="patch_projection")(words)
        tokens = ClassToken(dtype=dtype, name="class_token")(tokens)
        tables = []
        if use_patch_position:
            context = {"grid_size": grid, "num_prefix_tokens": 1, "interpolation": position_interpolation}
            position = slots["patch_position"].build(patch_position, context, dtype=dtype, name="patch_position")
            tokens = position(tokens) if patch_grid is None else position(tokens, grid_size=patch_grid)
            stem.append("patch_position")
            tables.append(PositionTable("patch_position", 1, grid))
        tokens = keras.layers.Dropout(dropout_rate, dtype=dtype, name="dropout")(tokens)
        for index in range(num_layers):
            words, tokens = vit.build_block(slots, values, index)([words, tokens])
        x = NORM.build(norm, {"epsilon": layer_norm_epsilon}, dtype=dtype, name="encoder_norm")(tokens)
        x, pool, top = vit.pool_and_classify(x, slots, values)

        super().__init__(inputs=images, outputs=x, name=name, **kwargs)
        self._store_config(locals())
        self.word_grid_size = word_grid
        self.layout = ModelLayout(
            blocks=tuple(f"block_{i}" for i in range(num_layers)), stem=tuple(stem), num_prefix_tokens=1,
            grid_size=grid, patch_size=patch_size, dynamic_image_size=dynamic_image_size, **top,
            **built_fields(self, tables, ["class_token"] + ["pixel_position"] * use_pixel_position, pool),
        )

    @staticmethod
    def check_hyperparameters(**config):
        vit.check_transformer(config)
        image_size, patch_size = pair(config["image_size"]), pair(config["patch_size"])
        divisible("inner_dim", config["inner_dim"], "inner_num_heads", config["inner_num_heads"])
        tiling(image_size, patch_size)
        pixel_kernel_size = config["pixel_kernel_size"]
        for size in patch_size:  # every patch splits into whole words
            divisible("patch_size", size, "pixel_stride", config["pixel_stride"])
        if pixel_kernel_size % 2 == 0:
            raise ValueError(
                f"`pixel_kernel_size` must be odd (the convolution pads pixel_kernel_size // 2 on each side so that a "
                f"patch gives patch_size / pixel_stride words per side); received {pixel_kernel_size}."
            )
        if config["dynamic_image_size"] and config["use_patch_position"]:
            vit.check_resamplable("patch_position", TNT.SLOTS["patch_position"].component(config["patch_position"])[0])

