"""The JAX/Flax ViT checkpoints as `.npz`: the original release (google-research/vision_transformer, including the
AugReg and hybrid R50+ViT checkpoints) and big_vision's layout of the same models.

Flax kernels are already (in, out) and convolutions (kh, kw, in, out), so most weights copy; attention is the
exception. npz key -> keras_vit path (E = Transformer/encoderblock_{i}; big_vision's names in brackets):

    embedding/kernel, /bias                      patch_embed/projection/kernel, bias
    cls (1, 1, D)                                class_token/token
    Transformer/posembed_input/pos_embedding     position_embedding/embeddings   [pos_embedding]; resampled
    E/LayerNorm_0/scale, bias                    block_{i}/norm1/gamma, beta
    E/MultiHeadDotProductAttention_1/{query,key,value}/kernel (D, heads, D/heads)
                                                 block_{i}/attention/qkv/kernel (D, 3D): each reshaped to (D, D),
                                                 concatenated [q | k | v]     [MultiHeadDotProductAttention_0]
    .../{query,key,value}/bias (heads, D/heads)  block_{i}/attention/qkv/bias (3D,)
    .../out/kernel (heads, D/heads, D), bias     block_{i}/attention/projection/kernel (D, D), bias
    E/LayerNorm_2                                block_{i}/norm2                 [LayerNorm_1]
    E/MlpBlock_3/Dense_0, Dense_1                block_{i}/mlp/fc1, fc2          [MlpBlock_0]
    Transformer/encoder_norm                     encoder_norm
    pre_logits/kernel, bias                      head/pre_logits
    head/kernel, bias                            head/classifier
    conv_root/kernel, gn_root/scale, bias        stem/root/conv_root/kernel, stem/root/gn_root/gamma, beta
    block{s}/unit{u}/conv{n}|conv_proj/kernel    stem/block{s}_unit{u}/conv{n}|conv_proj/kernel
    block{s}/unit{u}/gn{n}|gn_proj/scale, bias   stem/block{s}_unit{u}/gn{n}|gn_proj/gamma, beta

big_vision files may prefix every key with `params/` and may stack the blocks of a scanned encoder
(`Transformer/encoderblock/...` with a leading depth axis); both are undone before mapping. big_vision adds its
`pos_embedding` (1, N, D) to the patches before it prepends the class token, so a class-token model gets a zero row
for the class token in front of it (the same function).

GELU: both codebases' MLP calls Flax's `nn.gelu`, whose default is the tanh approximation, in the plain ViTs and in
the transformer of the R50+ViT hybrids alike (their ResNet stem has no GELU). `architecture_overrides` therefore asks
for `use_approximate_gelu=True`, which `keras_vit.create(name, weights=...)` applies unless told otherwise: with
it the model gives the release's logits (docs/weights.md).
"""

import numpy as np

from keras_vit.weights import protocol
from keras_vit.weights.protocol import Converter, Rule, concat_last, match, reshape

_NORM = {"gamma": "scale", "beta": "bias"}
_ATTENTION = ("MultiHeadDotProductAttention_1", "MultiHeadDotProductAttention_0")
_NORMS = {"1": ("LayerNorm_0",), "2": ("LayerNorm_2", "LayerNorm_1")}  # norm1, norm2
_MLP = ("MlpBlock_3", "MlpBlock_0")


class FlaxViT(Converter):
    format = "vit_npz"
    output_axis = -1
    families = ("vit",)
    description = "original ViT / big_vision .npz (Transformer/encoderblock_N/MultiHeadDotProductAttention_1, cls)"
    position_interpolation = "bilinear"  # the release's loader: scipy.ndimage.zoom(order=1)
    head = ("head/kernel", "head/bias")
    pre_logits = ("pre_logits/kernel", "pre_logits/bias")

    def claims(self, keys):
        return any(k.startswith(("Transformer/", "params/Transformer/")) or k.endswith("embedding/kernel") for k in keys)

    def prepare(self, tensors):
        """Strips a `params/` prefix and unstacks a scanned encoder's `encoderblock` (depth-first axis)."""
        prepared = {}
        for key, value in tensors.items():
            key = key.removeprefix("params/")
            if key.startswith(scanned := "Transformer/encoderblock/"):
                rest = key.removeprefix(scanned)
                prepared.update({f"Transformer/encoderblock_{i}/{rest}": block for i, block in enumerate(value)})
            else:
                prepared[key] = value
        table = prepared.get("pos_embedding")
        if table is not None and "cls" in prepared and protocol.is_square(table.shape[-2]):
            # big_vision adds the table before prepending the class token: the class token's row is zero.
            prepared["pos_embedding"] = np.concatenate([np.zeros_like(table[..., :1, :]), table], axis=-2)
        return prepared

    def rule(self, path, model):
        if m := match(r"patch_embed/projection/(kernel|bias)", path):
            return Rule((f"embedding/{m[1]}",))
        if path == "class_token/token":
            return Rule(("cls",))
        if path == "position_embedding/embeddings":
            keys = [("Transformer/posembed_input/pos_embedding",), ("pos_embedding",)]
            return protocol.first_of(keys, note="copied (resampled when the grid differs)")
        if block := protocol.split_block(path, model.layout.blocks):
            return self._block_rule(f"Transformer/encoderblock_{block[1]}/", block[2])
        if m := match(r"encoder_norm/(gamma|beta)", path):
            return Rule((f"Transformer/encoder_norm/{_NORM[m[1]]}",))
        if m := match(r"head/(pre_logits|classifier)/(kernel|bias)", path):
            return Rule((f"{'pre_logits' if m[1] == 'pre_logits' else 'head'}/{m[2]}",))
        if m := match(r"stem/root/(conv_root|gn_root)/(kernel|gamma|beta)", path):
            return Rule((f"{m[1]}/{_NORM.get(m[2], m[2])}",))
        if stem := protocol.split_block(path, protocol.resnet_stem(model)):
            units = protocol.resnet_units(model, stem[0])
            if block := protocol.split_block(stem[2], tuple(units)):
                unit = "block{}/unit{}/".format(*(i + 1 for i in units[block[0]]))
                if m := match(r"((?:conv|gn)(?:\d|_proj))/(kernel|gamma|beta)", block[2]):
                    return Rule((f"{unit}{m[1]}/{_NORM.get(m[2], m[2])}",))
        return None

    def _block_rule(self, prefix, path):
        if m := match(r"norm(1|2)/(gamma|beta)", path):
            return protocol.first_of([(f"{prefix}{n}/{_NORM[m[2]]}",) for n in _NORMS[m[1]]])
        if m := match(r"attention/qkv/(kernel|bias)", path):
            layouts = [[f"{prefix}{a}/{part}/{m[1]}" for part in ("query", "key", "value")] for a in _ATTENTION]
            return protocol.first_of(layouts, concat_last, "each (D, heads, D/heads) -> (D, D), concatenated [q | k | v]")
        if m := match(r"attention/projection/(kernel|bias)", path):
            return protocol.first_of([(f"{prefix}{a}/out/{m[1]}",) for a in _ATTENTION], reshape, "(heads, D/heads, D) -> (D, D)")
        if m := match(r"mlp/fc(1|2)/(kernel|bias)", path):
            return protocol.first_of([(f"{prefix}{b}/Dense_{int(m[1]) - 1}/{m[2]}",) for b in _MLP])
        return None

    def position_keys(self, tensors):
        prefix = 1 if "cls" in tensors else 0
        return {"Transformer/posembed_input/pos_embedding": prefix, "pos_embedding": prefix}

    def architecture_overrides(self, tensors):
        return {"use_approximate_gelu": True}  # Flax's nn.gelu: approximate=True by default

    def architecture_note(self, name, expected, actual):  # name is "use_approximate_gelu", the only override
        release = "The original ViT release's MLP (and big_vision's) uses the tanh-approximated GELU (Flax nn.gelu)"
        if actual == expected:
            return f"{release}; the model does too (use_approximate_gelu=True), so its logits match the release's."
        return (f"{release}, but the model has the exact GELU (use_approximate_gelu=False): its logits differ from "
                f"the release's (about 3e-4 relative); build it with use_approximate_gelu=True (as create does).")
