"""timm's Vision Transformer state dicts (`vit_*_patch*`, DeiT with or without distillation token, DeiT-III, the
register-token ViTs `vit_*_reg4_gap_*`) and the ViT hybrids (`vit_*_r50_*`, `vit_tiny_r_s16_p8_*`): `.safetensors`,
or `.pth` / `.bin` where torch is installed.

timm key -> keras_vit path (PyTorch Linear (out, in) transposes to Keras (in, out); Conv2d (out, in, kh, kw) to
(kh, kw, in, out)):

    patch_embed.proj.weight / .bias       patch_embed/projection/kernel / bias   conv
    cls_token (1, 1, D)                   class_token/token
    dist_token (1, 1, D)                  distillation_token/token
    reg_token (1, R, D)                   register_tokens/token
    pos_embed (1, P + N, D)               position_embedding/embeddings          resampled when the grid differs; P
                                                                                 prefix rows, 0 with no_embed_class
    blocks.{i}.norm1 / norm2              block_{i}/norm1 / norm2                weight -> gamma, bias -> beta
    blocks.{i}.attn.qkv.weight (3D, D)    block_{i}/attention/qkv/kernel (D, 3D) transpose; rows [q; k; v] head-major
    blocks.{i}.attn.proj                  block_{i}/attention/projection         transpose
    blocks.{i}.ls1.gamma / ls2.gamma      block_{i}/layer_scale_1 / _2/gamma
    blocks.{i}.mlp.fc1 / fc2              block_{i}/mlp/fc1 / fc2                transpose
    EVA-02 (timm's Eva, rotary_msa and swiglu; rotary angles have no variables):
    blocks.{i}.attn.q_proj/k_proj/v_proj  block_{i}/attention/qkv/kernel         stacked [q; k; v], transposed
    blocks.{i}.attn.q_bias / v_bias       block_{i}/attention/query_bias / value_bias   (or q_proj.bias, v_proj.bias)
    blocks.{i}.mlp.fc1_g / fc1_x          block_{i}/mlp/fc1                      stacked [gate; value], transposed
    blocks.{i}.mlp.norm                   block_{i}/mlp/norm                     SwiGLU's inner LayerNorm
    norm                                  encoder_norm
    fc_norm                               fc_norm
    attn_pool.latent (1, 1, D)            pooling/probe                          MAP pooling (SigLIP)
    attn_pool.q / kv / proj / norm        pooling/query / key_value / projection / norm   transpose (Linear)
    attn_pool.mlp.fc1 / fc2               pooling/mlp/fc1 / fc2                  transpose
    pre_logits.fc (older timm)            head/pre_logits                        transpose
    head                                  head/classifier                        transpose
    head_dist                             head/distillation_classifier           transpose
    patch_embed.backbone.*                stem/*  (see timm_resnet_v2; a root-only stem has no `stem.` level)
"""

from functools import partial

from keras_vit.weights import protocol
from keras_vit.weights.protocol import Converter, Rule, concat_last, concat_linear, conv, match, torch_param
from keras_vit.weights.timm_resnet_v2 import resnet_rule


def block_rule(path, prefix, names, split=False):
    """Rule for a TransformerBlock variable under `prefix` (a timm module path ending in "."). `names` maps the
    Keras sublayers norm1, attention, norm2, mlp to the timm names, e.g. {"norm1": "norm1", "attention": "attn",
    ...}; attention with a fused `qkv` unless names["qkv"] maps split Linear layers to how many of q, k, v each holds
    (TNT's {"qk": 2, "v": 1}). `split`: EVA-02's q_proj, k_proj, v_proj and fc1_g, fc1_x come first (what
    `keras_vit.weights.save` writes); either layout loads."""
    order = (lambda keys: keys[::-1]) if split else (lambda keys: keys)
    if m := match(r"(norm1|norm2)/(gamma|beta)", path):
        return Rule((f"{prefix}{names[m[1]]}.{protocol.TORCH_NORM[m[2]]}",))
    attention = f"{prefix}{names['attention']}."
    if m := match(r"attention/qkv/(kernel|bias)", path):
        if "qkv" not in names and m[1] == "bias":
            return Rule((attention + "qkv.bias",))
        if "qkv" not in names:  # timm's fused qkv Linear, or EVA-02's q_proj, k_proj, v_proj
            keys = [[attention + "qkv.weight"], [f"{attention}{p}_proj.weight" for p in "qkv"]]
            return protocol.first_of(order(keys), concat_linear, "transposed (q_proj, k_proj, v_proj stacked first)")
        keys = tuple(f"{attention}{p}.{'weight' if m[1] == 'kernel' else 'bias'}" for p in names["qkv"])
        if m[1] == "kernel":
            parts = tuple(names["qkv"].values())
            return Rule(keys, partial(concat_linear, parts=parts), "rows [qk; v] stacked, then transposed")
        return Rule(keys, concat_last, "[qk | v] concatenated")
    if m := match(r"attention/projection/(kernel|bias)", path):
        return torch_param(attention + "proj", m[1])
    if m := match(r"attention/(query|value)_bias", path):  # EVA-02 (RotaryMSA): fused qkv's q_bias, or q_proj's
        return protocol.first_of(order([[f"{attention}{m[1][0]}_bias"], [f"{attention}{m[1][0]}_proj.bias"]]))
    mlp = f"{prefix}{names['mlp']}."
    if m := match(r"mlp/fc1/(kernel|bias)", path):  # SwiGLU's: timm's packed [gate; value] fc1, or fc1_g and fc1_x
        kind, join = ("weight", concat_linear) if m[1] == "kernel" else ("bias", concat_last)
        keys = [[f"{mlp}fc1.{kind}"], [f"{mlp}fc1_g.{kind}", f"{mlp}fc1_x.{kind}"]]
        return protocol.first_of(order(keys), join, "copied or transposed ([gate; value] stacked first)")
    if m := match(r"mlp/(fc2|norm)/(kernel|bias|gamma|beta)", path):  # norm: SwiGLU's inner LayerNorm
        return dense_or_norm(path, {f"mlp/{m[1]}": mlp + m[1]})
    if m := match(r"layer_scale_(1|2)/gamma", path):
        return Rule((f"{prefix}ls{m[1]}.gamma",))
    return None


def dense_or_norm(path, modules):
    """Rule for `{layer}/{kernel,bias,gamma,beta}` of a Keras layer in `modules` ({layer path: timm module})."""
    layer, _, name = path.rpartition("/")
    if (module := modules.get(layer)) and name in protocol.TORCH_NORM:
        return Rule((f"{module}.{protocol.TORCH_NORM[name]}",))
    return torch_param(module, name) if module and name in ("kernel", "bias") else None


# prefix-token layers in timm's sequence order (class, distillation, registers) and their timm keys
_TOKENS = {"class_token/token": "cls_token", "distillation_token/token": "dist_token",
           "register_tokens/token": "reg_token"}
VIT_BLOCK = {"norm1": "norm1", "attention": "attn", "norm2": "norm2", "mlp": "mlp"}
_TOP = {"encoder_norm": "norm", "head/pre_logits": "pre_logits.fc", "fc_norm": "fc_norm", "head/classifier": "head",
        "head/distillation_classifier": "head_dist", "pooling/query": "attn_pool.q", "pooling/key_value": "attn_pool.kv",
        "pooling/projection": "attn_pool.proj", "pooling/norm": "attn_pool.norm", "pooling/mlp/fc1": "attn_pool.mlp.fc1",
        "pooling/mlp/fc2": "attn_pool.mlp.fc2"}


class TimmViT(Converter):
    """timm ViT / DeiT / ViT-hybrid state dicts into the `vit` family (learned 1-D positions)."""

    format = "timm_vit"
    families = ("vit",)
    description = "timm VisionTransformer state dict (cls/dist/reg tokens, pos_embed, blocks.N.attn.qkv, head)"
    pre_logits = ("pre_logits.fc.weight", "pre_logits.fc.bias")
    position_interpolation = "bicubic"  # timm's resample_abs_pos_embed, as with dynamic_img_size=True

    def claims(self, keys):
        return "pos_embed" in keys or "blocks.0.attn.qkv.weight" in keys

    def rule(self, path, model):
        if m := match(r"patch_embed/projection/(kernel|bias)", path):
            return torch_param("patch_embed.proj", m[1], conv, "conv")
        if path in _TOKENS:
            return Rule((_TOKENS[path],))
        if path == "pooling/probe":  # MAP pooling's learned query (SigLIP)
            return Rule(("attn_pool.latent",))
        if path == "position_embedding/embeddings":
            return Rule(("pos_embed",), note="copied (resampled when the grid differs)")
        if block := protocol.split_block(path, model.layout.blocks):
            # timm's EVA-02 with the SwiGLU inner norm (Base, Large) has separate q/k/v and gate/value Linears;
            # without it (Tiny, Small), and every other timm ViT, fused qkv and one fc1
            split = getattr(model.get_layer(block[0]).mlp, "use_inner_norm", False)
            return block_rule(block[2], f"blocks.{block[1]}.", VIT_BLOCK, split)
        if block := protocol.split_block(path, protocol.resnet_stem(model)):
            units = protocol.resnet_units(model, block[0])
            # timm nests the root under `stem.` in a ResNet with stages; a root-only stem has no `stem.` level
            return resnet_rule(block[2], "patch_embed.backbone.", ("stem.", "") if units else ("", "stem."), units)
        return dense_or_norm(path, _TOP)

    def head_keys(self, tensors):
        # a distilled checkpoint's two classifiers are one head: kept or dropped together
        distilled = ("head_dist.weight", "head_dist.bias") if "head_dist.weight" in tensors else ()
        return ("head.weight", "head.bias", *distilled) if "head.weight" in tensors else None

    def position_keys(self, tensors):
        if "pos_embed" not in tensors:
            return {}
        prefix = sum(int(tensors[k].shape[1]) for k in _TOKENS.values() if k in tensors)
        rows = int(tensors["pos_embed"].shape[-2])
        # timm's no_embed_class (DeiT-III, register models) stores rows for the patches only: a square table
        # whose rows minus the prefix tokens are not a square grid has no prefix rows
        no_embed_class = prefix and protocol.is_square(rows) and not protocol.is_square(rows - prefix)
        return {"pos_embed": 0 if no_embed_class else prefix}
