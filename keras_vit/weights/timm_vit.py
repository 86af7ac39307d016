"""timm's Vision Transformer state dicts (`vit_*_patch*`, DeiT-style ViTs without distillation token) and the ViT
hybrids (`vit_*_r50_*`, `vit_tiny_r_s16_p8_*`): `.safetensors`, or `.pth` / `.bin` where torch is installed.

timm key -> keras_vit path (PyTorch Linear (out, in) transposes to Keras (in, out); Conv2d (out, in, kh, kw) to
(kh, kw, in, out)):

    patch_embed.proj.weight / .bias       patch_embed/projection/kernel / bias   conv
    cls_token (1, 1, D)                   class_token/token
    pos_embed (1, 1 + N, D)               position_embedding/embeddings          resampled when the grid differs
    blocks.{i}.norm1 / norm2              block_{i}/norm1 / norm2                weight -> gamma, bias -> beta
    blocks.{i}.attn.qkv.weight (3D, D)    block_{i}/attention/qkv/kernel (D, 3D) transpose; rows [q; k; v] head-major
    blocks.{i}.attn.proj                  block_{i}/attention/projection         transpose
    blocks.{i}.mlp.fc1 / fc2              block_{i}/mlp/fc1 / fc2                transpose
    norm                                  encoder_norm
    pre_logits.fc (older timm)            head/pre_logits                        transpose
    head                                  head/classifier                        transpose
    patch_embed.backbone.*                stem/*  (see timm_resnet_v2; a root-only stem has no `stem.` level)
"""

from __future__ import annotations

from keras_vit.weights.protocol import Converter, Rule, concat_last, concat_linear, conv, copy, linear, match
from keras_vit.weights.timm_resnet_v2 import resnet_rule

_NORM = {"gamma": "weight", "beta": "bias"}
_DENSE = {"kernel": "weight", "bias": "bias"}


def block_rule(path, prefix, names):
    """Rule for a TransformerBlock variable under `prefix` (a timm module path ending in "."). `names` maps the
    Keras sublayers norm1, attention, norm2, mlp to the timm names, e.g. {"norm1": "norm1", "attention": "attn",
    ...}; attention with a fused `qkv` unless names["qkv"] lists split Linear layers (TNT's ("qk", "v"))."""
    if m := match(r"(norm1|norm2)/(gamma|beta)", path):
        return Rule((f"{prefix}{names[m[1]]}.{_NORM[m[2]]}",), copy)
    if m := match(r"attention/qkv/(kernel|bias)", path):
        parts = names.get("qkv", ("qkv",))
        keys = tuple(f"{prefix}{names['attention']}.{p}.{_DENSE[m[1]]}" for p in parts)
        if len(keys) == 1:
            return Rule(keys, linear if m[1] == "kernel" else copy, "transpose" if m[1] == "kernel" else "copied")
        if m[1] == "kernel":
            return Rule(keys, concat_linear, "rows [qk; v] stacked, then transposed")
        return Rule(keys, concat_last, "[qk | v] concatenated")
    if m := match(r"attention/projection/(kernel|bias)", path):
        return _dense(f"{prefix}{names['attention']}.proj", m[1])
    if m := match(r"mlp/(fc1|fc2)/(kernel|bias)", path):
        return _dense(f"{prefix}{names['mlp']}.{m[1]}", m[2])
    return None


def _dense(module, kind):
    if kind == "kernel":
        return Rule((f"{module}.weight",), linear, "transpose")
    return Rule((f"{module}.bias",), copy)


def dense_or_norm(path, keras_prefix, module):
    """Rule for `keras_prefix/{kernel,bias,gamma,beta}` read from the timm `module`."""
    if m := match(re_escape(keras_prefix) + r"/(kernel|bias)", path):
        return _dense(module, m[1])
    if m := match(re_escape(keras_prefix) + r"/(gamma|beta)", path):
        return Rule((f"{module}.{_NORM[m[1]]}",), copy)
    return None


def re_escape(text):
    import re

    return re.escape(text)


VIT_BLOCK = {"norm1": "norm1", "attention": "attn", "norm2": "norm2", "mlp": "mlp"}


class TimmViT(Converter):
    """timm ViT / ViT-hybrid state dicts into the `vit` family (class-token models with learned 1-D positions)."""

    format = "timm_vit"
    families = ("vit",)
    description = "timm VisionTransformer state dict (cls_token, pos_embed, blocks.N.attn.qkv, head)"

    def claims(self, keys):
        return "pos_embed" in keys or "blocks.0.attn.qkv.weight" in keys

    def rule(self, path, model):
        if m := match(r"patch_embed/projection/(kernel|bias)", path):
            if m[1] == "kernel":
                return Rule(("patch_embed.proj.weight",), conv, "conv")
            return Rule(("patch_embed.proj.bias",), copy)
        if path == "class_token/token":
            return Rule(("cls_token",), copy)
        if path == "position_embedding/embeddings":
            return Rule(("pos_embed",), copy, "copied (resampled when the grid differs)")
        if m := match(r"block_(\d+)/(.*)", path):
            return block_rule(m[2], f"blocks.{m[1]}.", VIT_BLOCK)
        if m := match(r"stem/(.*)", path):
            return resnet_rule(m[1], "patch_embed.backbone.", ("stem.", ""))
        return (
            dense_or_norm(path, "encoder_norm", "norm")
            or dense_or_norm(path, "head/pre_logits", "pre_logits.fc")
            or dense_or_norm(path, "head/classifier", "head")
        )

    def head_keys(self, tensors):
        return ("head.weight", "head.bias") if "head.weight" in tensors else None

    def pre_logits_keys(self, tensors):
        return tuple(k for k in ("pre_logits.fc.weight", "pre_logits.fc.bias") if k in tensors)

    def representation_dim(self, tensors):
        kernel = tensors.get("pre_logits.fc.weight")
        return None if kernel is None else int(kernel.shape[0])

    def position_keys(self, tensors):
        return {"pos_embed": 1 if "cls_token" in tensors else 0}
