"""timm's Transformer-in-Transformer state dicts (`tnt_s_patch16_224`, `tnt_b_patch16_224`; the TNT release's
PyTorch checkpoints use the same names) into the `tnt` family. timm's `*_legacy_*` TNTs are another architecture
(they convolve the whole image; their blocks' `proj` has a bias) and are reported as unexpected keys.

timm key -> keras_vit path (Linear weights transpose, Conv2d (out, in, kh, kw) -> (kh, kw, in, out)):

    pixel_embed.proj                       pixel_embed/projection                     conv
    pixel_pos (1, d, r, c)                 pixel_position/embeddings (r * c, d)       channels last, row-major
    norm1_proj, proj, norm2_proj           patch_projection/norm1, projection, norm2
    cls_token, patch_pos                   class_token/token, patch_position/embeddings (resampled if needed)
    blocks.{i}.norm_in, norm_mlp_in        block_{i}/inner_block/norm1, norm2
    blocks.{i}.attn_in.qk (2d, d), .v      block_{i}/inner_block/attention/qkv (d, 3d)  rows [qk; v], transposed
    blocks.{i}.attn_in.proj, mlp_in        block_{i}/inner_block/attention/projection, mlp
    blocks.{i}.norm1_proj, proj, norm2_proj  block_{i}/pixel_projection/norm1, projection (no bias), norm2
    blocks.{i}.norm_out, norm_mlp          block_{i}/outer_block/norm1, norm2
    blocks.{i}.attn_out.qk, .v, .proj, mlp block_{i}/outer_block/attention/..., mlp
    norm, head                             encoder_norm, head/classifier
"""

from keras_vit.weights import protocol
from keras_vit.weights.protocol import Converter, Rule, channels_first_table, conv, match, torch_param
from keras_vit.weights.timm_vit import block_rule, dense_or_norm

INNER = {"norm1": "norm_in", "attention": "attn_in", "norm2": "norm_mlp_in", "mlp": "mlp_in", "qkv": {"qk": 2, "v": 1}}
OUTER = {"norm1": "norm_out", "attention": "attn_out", "norm2": "norm_mlp", "mlp": "mlp", "qkv": {"qk": 2, "v": 1}}


def projection_rule(path, prefix):
    """PixelProjection variables (norm1, projection, norm2) from timm's norm1_proj, proj, norm2_proj."""
    return dense_or_norm(path, {"norm1": f"{prefix}norm1_proj", "projection": f"{prefix}proj", "norm2": f"{prefix}norm2_proj"})


class TimmTNT(Converter):
    format = "timm_tnt"
    families = ("tnt",)
    description = "timm / TNT-release state dict (pixel_embed, pixel_pos, patch_pos, blocks.N.attn_in.qk)"
    head = ("head.weight", "head.bias")
    position_interpolation = "bicubic"  # timm's resample_abs_pos_embed

    def claims(self, keys):
        return "pixel_embed.proj.weight" in keys or "patch_pos" in keys

    def rule(self, path, model):
        if m := match(r"pixel_embed/projection/(kernel|bias)", path):
            return torch_param("pixel_embed.proj", m[1], conv, "conv")
        if path == "pixel_position/embeddings":
            return Rule(("pixel_pos",), channels_first_table, "(1, d, r, c) -> (r * c, d)")
        if path == "class_token/token":
            return Rule(("cls_token",))
        if path == "patch_position/embeddings":
            return Rule(("patch_pos",), note="copied (resampled when the grid differs)")
        if m := match(r"patch_projection/(.*)", path):
            return projection_rule(m[1], "")
        if (block := protocol.split_block(path, model.layout.blocks)) and (
            m := match(r"(inner_block|outer_block|pixel_projection)/(.*)", block[2])
        ):
            prefix = f"blocks.{block[1]}."
            if m[1] == "pixel_projection":
                return projection_rule(m[2], prefix)
            return block_rule(m[2], prefix, INNER if m[1] == "inner_block" else OUTER)
        return dense_or_norm(path, {"encoder_norm": "norm", "head/classifier": "head"})

    def position_keys(self, tensors):
        return {"patch_pos": 1}
