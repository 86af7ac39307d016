"""The Vision Transformer family (ViT, DeiT, DeiT-III, register tokens and, with a convolutional stem, the
hybrids): a model assembled from the registered components its spec names."""

import keras

from keras_vit.layers import _rematerialize
from keras_vit.layers._resampling import INTERPOLATIONS
from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.patch_grid import PatchGrid
from keras_vit.layers.slots import ATTENTION, MLP, NORM
from keras_vit.models.layout import ModelLayout, PositionTable, built_fields
from keras_vit.models.zoo_model import ZooModel, provided
from keras_vit.registry import Slot, register, registry, slot_config
from keras_vit.schema import check_family_arguments, divisible, one_of, optional, pair, tiling

PLACEMENTS = ("stem", "every_layer", "every_layer_shared")
# Prefix tokens in sequence order (timm's order): class, distillation, registers.
PREFIX_TOKENS = (("class_token", "use_class_token"), ("distillation_token", "use_distillation_token"),
                 ("register_tokens", "num_register_tokens"))


def position_name(position_encoding):
    """The registered name of a position_encoding slot value ("none" for none)."""
    return slot_config(position_encoding, "learned_1d")["name"]


def is_relative(position_encoding):
    name = position_name(position_encoding)
    return name != "none" and getattr(registry("position").get(name), "interface", None) == "relative"


def resolve_placement(position_encoding, position_placement):
    """The placement a position encoding takes when none is given: at the stem, or for relative attention in every
    layer (each with its own table, as in the ViT paper's ablation)."""
    if position_placement is not None:
        return position_placement
    return "every_layer" if is_relative(position_encoding) else "stem"


def stem_output_stride(stem):
    """The total downsampling of a convolutional stem config ({"name": ..., **kwargs}), 1 without a stem."""
    if stem is None:
        return 1
    stem_cls, arguments = ViT.SLOTS["stem"].component(stem)
    return stem_cls.output_stride_of(arguments)


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
            position encoding (an `AbsolutePosition` subclass); a name or {name: ..., <argument>: ...}.
        position_placement: "stem" (added once, after the class token), "every_layer" (a table of its own added
            before each block) or "every_layer_shared" (one table added before every block); None takes "stem",
            or "every_layer" for "relative".
        pooling: "token" (class token), "gap" (mean of patch tokens), "map" (attention pooling with a learned
            probe, as big_vision), a plugin's, or "none" (the token sequence; needs num_classes=0).
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
            keeping them while training, less memory for more time (docs/speed.md). Needs dropout_rate,
            attention_dropout_rate and drop_path_rate of 0.
        stem: None or a registered stem (slot "stem"): {name: bit_resnet_stem, <its arguments>}.
        patch_embed, block, attention, mlp, norm, head: the registered components of these slots, each a name or
            {name: ..., <argument>: ...} (defaults "patch_embed", "transformer_block", "msa", "mlp",
            "layer_norm", "classifier"); position_encoding and pooling are slots too. Each component receives the
            hyperparameters above that its constructor declares (docs/specs.md).
        use_distillation_token: bool, DeiT's distillation token after the class token.
        num_register_tokens: int, learned register tokens after the class (and distillation) token.
        use_prefix_position: bool; False adds the position table to the patch tokens only, before the prefix
            tokens are prepended (DeiT-III and the register-token models; timm's no_embed_class).
        use_fc_norm: bool; True moves the final norm after the pooling (timm's fc_norm, with gap pooling).
        dynamic_image_size: bool (default False, timm's name): True takes images of any height and width that the
            patch size (times the stem's stride) divides, with the position tables made for image_size resampled
            in the graph for the grid at hand (prefix tokens' rows untouched; sincos_2d computed for the grid;
            relative re-indexed). At image_size the outputs are exactly those of the fixed-size model.
        position_interpolation: how a dynamic model resamples its learned position tables: "bilinear" (align
            corners, the original ViT release) or "bicubic" (timm's: PyTorch's antialiased bicubic).
            `keras_vit.create(name, weights=...)` takes the checkpoint source's.
        rotary_position: None or a rotary position embedding ({name: rotary_2d, reference_grid_size: 16}): its
            angles for the grid at hand go to every block's attention, which must apply them (attention:
            rotary_msa); EVA-02 uses it besides a learned position table.

    Call arguments:
        images: float tensor of shape (batch, height, width, num_channels), normalized as the weights expect.

    Returns:
        (batch, num_classes) logits; (batch, hidden_dim) features when num_classes=0; (batch, num_tokens,
        hidden_dim) tokens when pooling="none".

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", 2021.
    """

    SLOTS = {
        "stem": Slot("stem", None, interface="feature_map"),
        "patch_embed": Slot("patch_embed", "patch_embed", interface="tokens", provided=("patch_size", "hidden_dim")),
        "position_encoding": Slot("position", "learned_1d", interface=("tokens", "relative"), empty="none",
                                  provided=("grid_size", "num_prefix_tokens", "num_tokens", "key_dim",
                                            "interpolation")),
        "block": Slot("block", "transformer_block", interface="tokens", provided=(
            "hidden_dim", "num_heads", "intermediate_dim", "dropout_rate", "attention_dropout_rate", "drop_path_rate",
            "layer_norm_epsilon", "use_qkv_bias", "use_approximate_gelu", "rematerialize", "attention", "mlp", "norm",
        )),
        "attention": ATTENTION,
        "mlp": MLP,
        "norm": NORM,
        "pooling": Slot("pooling", "token", interface="tokens", empty="none",
                        provided=("num_prefix_tokens", "num_heads", "intermediate_dim", "layer_norm_epsilon")),
        "head": Slot("head", "classifier", interface="features",
                     provided=("num_classes", "representation_dim", "activation")),
        "rotary_position": Slot("position", None, interface="rotary", empty="none",
                                provided=("grid_size", "num_prefix_tokens", "key_dim")),
    }
    # Every other argument is checked by its keras_vit.schema.GLOSSARY field.
    FIELDS = {**SLOTS, "position_placement": optional(one_of(*PLACEMENTS)), "position_interpolation": one_of(*INTERPOLATIONS)}

    def __init__(self, image_size=224, patch_size=16, num_channels=3, hidden_dim=768, num_layers=12, num_heads=12,
                 intermediate_dim=3072, position_encoding="learned_1d", position_placement=None, pooling="token",
                 use_class_token=True, num_classes=1000, representation_dim=None, classifier_activation=None,
                 dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0, layer_norm_epsilon=1e-6,
                 use_qkv_bias=True, use_approximate_gelu=False, rematerialize=False, stem=None,
                 patch_embed="patch_embed", block="transformer_block", attention="msa", mlp="mlp", norm="layer_norm",
                 head="classifier", use_distillation_token=False, num_register_tokens=0, use_prefix_position=True,
                 use_fc_norm=False, dynamic_image_size=False, position_interpolation="bilinear", rotary_position=None,
                 name="vit", dtype=None, **kwargs):
        check_family_arguments(type(self), locals())
        slots = self.SLOTS
        image_size, patch_size = pair(image_size), pair(patch_size)
        stride = stem_output_stride(stem)
        grid = (image_size[0] // stride // patch_size[0], image_size[1] // stride // patch_size[1])
        counts = {"use_class_token": use_class_token, "use_distillation_token": use_distillation_token,
                  "num_register_tokens": num_register_tokens}
        num_prefix = sum(int(counts[key]) for _, key in PREFIX_TOKENS)
        values = {**locals(), "num_prefix_tokens": num_prefix}
        placement = resolve_placement(position_encoding, position_placement)
        relative = is_relative(position_encoding)
        absolute = position_name(position_encoding) != "none" and not relative
        tables, stem_layers, undecayed = [], [], []  # undecayed: token and relative position layers

        def add_position(x, layer_name, prefix):
            context = {"grid_size": grid, "num_prefix_tokens": prefix, "interpolation": position_interpolation}
            layer = slots["position_encoding"].build(position_encoding, context, dtype=dtype, name=layer_name)
            tables.append(PositionTable(layer_name, prefix, grid))
            return layer

        def stem_layer(layer, x):
            stem_layers.append(layer.name)
            return layer(x)

        def positions(layer, x):  # a dynamic model passes the grid at hand
            return layer(x) if patch_grid is None else layer(x, grid_size=patch_grid)

        images, x, patch_grid = image_input(values, (patch_size[0] * stride, patch_size[1] * stride))
        if stem is not None:
            x = stem_layer(slots["stem"].build(stem, {}, dtype=dtype, name="stem"), x)
        x = stem_layer(slots["patch_embed"].build(patch_embed, provided(slots["patch_embed"], values), dtype=dtype,
                                                  name="patch_embed"), x)
        shared = None
        if absolute and not use_prefix_position:
            stem_layers.append("position_embedding")
            x = positions(add_position(x, "position_embedding", 0), x)
        for layer_name, key in reversed(PREFIX_TOKENS):
            if counts[key]:
                undecayed.append(layer_name)
                x = stem_layer(ClassToken(int(counts[key]), dtype=dtype, name=layer_name), x)
        if absolute and use_prefix_position and placement in ("stem", "every_layer_shared"):
            shared = add_position(x, "position_embedding", num_prefix)
            if placement == "stem":
                stem_layers.append(shared.name)
                x = positions(shared, x)
        x = keras.layers.Dropout(dropout_rate, dtype=dtype, name="dropout")(x)

        def relative_keys(layer_name):
            undecayed.append(layer_name)
            context = {"num_tokens": num_prefix + grid[0] * grid[1], "key_dim": hidden_dim // num_heads}
            return slots["position_encoding"].build(position_encoding, context, dtype=dtype, name=layer_name)(x)

        keys = relative_keys("relative_position") if relative and placement != "every_layer" else None
        if not slots["rotary_position"].is_empty(rotary_position):
            context = {"grid_size": grid, "num_prefix_tokens": num_prefix, "key_dim": hidden_dim // num_heads}
            keys = positions(slots["rotary_position"].build(rotary_position, context, dtype=dtype,
                                                            name="rotary_position"), x)
        blocks = []
        for index in range(num_layers):
            if absolute and placement == "every_layer":
                x = positions(add_position(x, f"position_embedding_{index}", num_prefix), x)
            elif absolute and placement == "every_layer_shared":
                x = positions(shared, x)
            if relative and placement == "every_layer":
                keys = relative_keys(f"relative_position_{index}")
            layer = build_block(slots, values, index)
            x = layer(x) if keys is None else layer(x, relative_keys=keys)
            blocks.append(layer.name)

        def final_norm(layer_name):
            return NORM.build(norm, {"epsilon": layer_norm_epsilon}, dtype=dtype, name=layer_name)

        if not use_fc_norm:
            x = final_norm("encoder_norm")(x)
        x, pool, top = pool_and_classify(x, slots, values, use_fc_norm and (lambda: final_norm("fc_norm")))

        super().__init__(inputs=images, outputs=x, name=name, **kwargs)
        self._store_config(locals())
        self.layout = ModelLayout(
            blocks=tuple(blocks), stem=tuple(stem_layers), num_prefix_tokens=num_prefix, grid_size=grid,
            stem_stride=stride, patch_size=patch_size, dynamic_image_size=dynamic_image_size,
            **top, **built_fields(self, tables, undecayed, pool),
        )

    @staticmethod
    def check_hyperparameters(**config):
        check_transformer(config)
        encoding, placement = position_name(config["position_encoding"]), config["position_placement"]
        if placement is not None:
            if encoding == "none":
                raise ValueError(
                    f"position_encoding='none' adds no position information, so position_placement must be left "
                    f"unset (None); received {placement!r}."
                )
            if is_relative(encoding) and placement == "stem":
                raise ValueError(
                    "position_encoding='relative' acts inside every attention layer and cannot be placed at the "
                    "stem: use position_placement='every_layer' (a table per layer) or 'every_layer_shared'."
                )
        if not config["use_prefix_position"] and (resolve_placement(encoding, placement) != "stem" or is_relative(encoding)):
            raise ValueError("use_prefix_position=False adds one table to the patch tokens at the stem: it needs an "
                             "absolute position_encoding with position_placement 'stem' (or unset).")
        if config["dynamic_image_size"] and encoding != "none" and not is_relative(encoding):
            position_cls, _ = ViT.SLOTS["position_encoding"].component(config["position_encoding"])
            check_resamplable("position_encoding", position_cls)
        if encoding == "sincos_2d" and config["hidden_dim"] % 4:
            raise ValueError(f"position_encoding='sincos_2d' needs hidden_dim divisible by 4; received {config['hidden_dim']}.")
        rotary = not ViT.SLOTS["rotary_position"].is_empty(config["rotary_position"])
        if rotary != getattr(ATTENTION.component(config["attention"])[0], "rotary", False) or (rotary and is_relative(encoding)):
            raise ValueError("rotary_position and a rotary attention go together and replace a relative position_encoding: "
                             "set both (rotary_position: rotary_2d, attention: rotary_msa) or neither.")
        pooling = slot_config(config["pooling"], "token")["name"]
        if pooling == "token" and not config["use_class_token"]:
            raise ValueError("pooling='token' needs the class token: set use_class_token=True or pooling='gap'.")
        if config["use_fc_norm"] and pooling == "none":
            raise ValueError("use_fc_norm=True normalizes the pooled features: it needs a pooling other than 'none'.")
        tiling(pair(config["image_size"]), pair(config["patch_size"]), stem_output_stride(config["stem"]))


def check_resamplable(slot, position_cls):
    """Raises ValueError unless a position encoding class can follow the image size (dynamic_image_size=True)."""
    if not issubclass(position_cls, AbsolutePosition):
        raise ValueError(
            f"dynamic_image_size=True resamples the position table for each image size, but {slot} "
            f"{position_cls.__name__} is not an AbsolutePosition (keras_vit.layers.AbsolutePosition defines "
            f"position_table_for(grid)): use a built-in encoding or set dynamic_image_size=False."
        )


def check_transformer(config):
    """The rules that ViT and TNT share: heads divide hidden_dim, pooling "none" has no classifier, and
    rematerialize needs no random masks."""
    divisible("hidden_dim", config["hidden_dim"], "num_heads", config["num_heads"])
    if slot_config(config["pooling"], "token")["name"] == "none" and config["num_classes"]:
        raise ValueError("pooling='none' returns the token sequence and cannot feed a classifier: set num_classes=0.")
    rates = ("dropout_rate", "attention_dropout_rate", "drop_path_rate")
    _rematerialize.check(config["rematerialize"], **{key: config[key] for key in rates})


def image_input(values, multiple):
    """The images input, the tensor the model continues from and, for a dynamic model, its patch grid at hand (a
    PatchGrid of `multiple` pixels; else None)."""
    shape = (None, None) if values["dynamic_image_size"] else values["image_size"]
    images = keras.Input((*shape, values["num_channels"]), name="images", dtype="float32")
    if not values["dynamic_image_size"]:
        return images, images, None
    return images, *PatchGrid(multiple, dtype=values["dtype"], name="patch_grid")(images)


def build_block(slots, values, index):
    """Block `index` of `values["num_layers"]`, its stochastic depth growing linearly to drop_path_rate."""
    rate = values["drop_path_rate"] * index / max(values["num_layers"] - 1, 1)
    context = {**provided(slots["block"], values), "drop_path_rate": rate}
    return slots["block"].build(values["block"], context, dtype=values["dtype"], name=f"block_{index}")


def pool_and_classify(x, slots, values, normalize=None):
    """The pooling (unless none), the layer `normalize()` makes after it (fc_norm) and, with num_classes, the head.

    Returns:
        The outputs, the pooling layer (or None) and the layout fields: pooled and the head's name and variables.
    """
    pool = head = None
    fields = {"pooled": None}
    if not slots["pooling"].is_empty(values["pooling"]):
        pool = slots["pooling"].build(values["pooling"], provided(slots["pooling"], values), dtype=values["dtype"],
                                      name="pooling")
        x, fields["pooled"] = pool(x), pool.name
        if normalize:
            layer = normalize()
            x, fields["pooled"] = layer(x), layer.name
    if values["num_classes"]:
        context = {**provided(slots["head"], values), "activation": values["classifier_activation"]}
        head = slots["head"].build(values["head"], context, dtype=values["dtype"], name="head")
        x = head(x)
        pre_logits = getattr(head, "pre_logits", None)
        pre_paths = tuple(v.path for v in pre_logits.weights) if pre_logits is not None else ()
        fields.update(head=head.name, pre_logits_variables=pre_paths,
                      head_variables=tuple(v.path for v in head.weights if v.path not in pre_paths))
    return x, pool, fields
