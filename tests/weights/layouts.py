"""The published checkpoint layouts of tiny configurations, written from the architectures' descriptions (the
original ViT release's Flax modules, big_vision, timm's modules), independently of keras_vit.weights: key -> shape.
`fill(layout, seed)` draws values for them."""

import numpy as np


def fill(layout, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, shape in layout.items():
        scale = 0.3 if key.endswith(("scale", "norm.weight", "norm1.weight", "norm2.weight", "norm3.weight",
                                     "_in.weight", "_out.weight", "_mlp.weight", "_proj.weight")) else 0.2
        value = rng.normal(0.0, scale, shape)
        if key.endswith(("scale", ".gamma")) or ("norm" in key and key.endswith("weight")):  # LayerScale too
            value += 1.0
        tensors[key] = value.astype("float32")
    return tensors


def bit_stages(stage_sizes, root=64):
    """[(stage 1-based, unit 1-based, in channels, bottleneck width, out channels), ...] of a BiT ResNet."""
    units, channels = [], root
    for stage, size in enumerate(stage_sizes, start=1):
        mid = root * 2 ** (stage - 1)
        for unit in range(1, size + 1):
            units.append((stage, unit, channels, mid, 4 * mid))
            channels = 4 * mid
    return units


def flax_vit(hidden, layers, heads, mlp, patch, grid, classes, representation=None, stem=None, big_vision=False):
    """Keys of the original release's ViT .npz (big_vision=True: big_vision's module names, `params/` prefix and a
    position table without the class token's row, which big_vision adds before prepending the class token)."""
    head_dim = hidden // heads
    embed_in = 3 if stem is None else 4 * 64 * 2 ** (len(stem) - 1)
    keys = {"embedding/kernel": (patch, patch, embed_in, hidden), "embedding/bias": (hidden,), "cls": (1, 1, hidden)}
    if big_vision:
        keys["pos_embedding"] = (1, grid * grid, hidden)
    else:
        keys["Transformer/posembed_input/pos_embedding"] = (1, 1 + grid * grid, hidden)
    attention, norm2, mlp_block = (
        ("MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0")
        if big_vision
        else ("MultiHeadDotProductAttention_1", "LayerNorm_2", "MlpBlock_3")
    )
    for i in range(layers):
        block = f"Transformer/encoderblock_{i}/"
        for norm in ("LayerNorm_0", norm2):
            keys[f"{block}{norm}/scale"] = keys[f"{block}{norm}/bias"] = (hidden,)
        for part in ("query", "key", "value"):
            keys[f"{block}{attention}/{part}/kernel"] = (hidden, heads, head_dim)
            keys[f"{block}{attention}/{part}/bias"] = (heads, head_dim)
        keys[f"{block}{attention}/out/kernel"] = (heads, head_dim, hidden)
        keys[f"{block}{attention}/out/bias"] = (hidden,)
        keys[f"{block}{mlp_block}/Dense_0/kernel"] = (hidden, mlp)
        keys[f"{block}{mlp_block}/Dense_0/bias"] = (mlp,)
        keys[f"{block}{mlp_block}/Dense_1/kernel"] = (mlp, hidden)
        keys[f"{block}{mlp_block}/Dense_1/bias"] = (hidden,)
    keys["Transformer/encoder_norm/scale"] = keys["Transformer/encoder_norm/bias"] = (hidden,)
    width = hidden
    if representation:
        keys["pre_logits/kernel"], keys["pre_logits/bias"] = (hidden, representation), (representation,)
        width = representation
    keys["head/kernel"], keys["head/bias"] = (width, classes), (classes,)
    if stem is not None:
        keys["conv_root/kernel"] = (7, 7, 3, 64)
        keys["gn_root/scale"] = keys["gn_root/bias"] = (64,)
        for stage, unit, cin, mid, cout in bit_stages(stem):
            u = f"block{stage}/unit{unit}/"
            keys[u + "conv1/kernel"], keys[u + "conv2/kernel"] = (1, 1, cin, mid), (3, 3, mid, mid)
            keys[u + "conv3/kernel"] = (1, 1, mid, cout)
            for name, width_ in (("gn1", mid), ("gn2", mid), ("gn3", cout)):
                keys[u + name + "/scale"] = keys[u + name + "/bias"] = (width_,)
            if unit == 1:
                keys[u + "conv_proj/kernel"] = (1, 1, cin, cout)
                keys[u + "gn_proj/scale"] = keys[u + "gn_proj/bias"] = (cout,)
    if big_vision:
        keys = {"params/" + k: v for k, v in keys.items()}
    return keys


def timm_resnet(stage_sizes, prefix="", preact=False):
    """timm ResNetV2 keys (stem.conv, stages.{s}.blocks.{u}.conv1..3 / norm1..3 / downsample)."""
    keys = {prefix + "stem.conv.weight": (64, 3, 7, 7)}
    if not preact:
        keys[prefix + "stem.norm.weight"] = keys[prefix + "stem.norm.bias"] = (64,)
    for stage, unit, cin, mid, cout in bit_stages(stage_sizes):
        b = f"{prefix}stages.{stage - 1}.blocks.{unit - 1}."
        keys[b + "conv1.weight"], keys[b + "conv2.weight"] = (mid, cin, 1, 1), (mid, mid, 3, 3)
        keys[b + "conv3.weight"] = (cout, mid, 1, 1)
        norms = (("norm1", cin), ("norm2", mid), ("norm3", mid)) if preact else (("norm1", mid), ("norm2", mid), ("norm3", cout))
        for name, width in norms:
            keys[b + name + ".weight"] = keys[b + name + ".bias"] = (width,)
        if unit == 1:
            keys[b + "downsample.conv.weight"] = (cout, cin, 1, 1)
            if not preact:
                keys[b + "downsample.norm.weight"] = keys[b + "downsample.norm.bias"] = (cout,)
    return keys


def timm_bit(stage_sizes, classes):
    keys = timm_resnet(stage_sizes, preact=True)
    width = 4 * 64 * 2 ** (len(stage_sizes) - 1)
    keys["norm.weight"] = keys["norm.bias"] = (width,)
    keys["head.fc.weight"], keys["head.fc.bias"] = (classes, width, 1, 1), (classes,)
    return keys


def _timm_linear(keys, name, out, inp, bias=True):
    keys[name + ".weight"] = (out, inp)
    if bias:
        keys[name + ".bias"] = (out,)


def _timm_norm(keys, name, width):
    keys[name + ".weight"] = keys[name + ".bias"] = (width,)


def timm_vit(hidden, layers, heads, mlp, patch, grid, classes, stem=None, class_token=True, distilled=False,
             registers=0, embed_prefix=True, layer_scale=False, fc_norm=False):
    """timm VisionTransformer keys. distilled: DeiT's dist_token and head_dist; registers: reg_token (1, R, D);
    embed_prefix=False: timm's no_embed_class (pos_embed over the patches only); layer_scale: blocks.{i}.ls1/ls2;
    fc_norm: the norm after average pooling instead of `norm`."""
    prefix = int(class_token) + int(distilled) + registers
    keys = {"pos_embed": (1, (prefix if embed_prefix else 0) + grid * grid, hidden)}
    if class_token:
        keys["cls_token"] = (1, 1, hidden)
    if distilled:
        keys["dist_token"] = (1, 1, hidden)
    if registers:
        keys["reg_token"] = (1, registers, hidden)
    embed_in = 3 if stem is None else 4 * 64 * 2 ** (len(stem) - 1)
    keys["patch_embed.proj.weight"], keys["patch_embed.proj.bias"] = (hidden, embed_in, patch, patch), (hidden,)
    for i in range(layers):
        b = f"blocks.{i}."
        _timm_norm(keys, b + "norm1", hidden)
        _timm_linear(keys, b + "attn.qkv", 3 * hidden, hidden)
        _timm_linear(keys, b + "attn.proj", hidden, hidden)
        _timm_norm(keys, b + "norm2", hidden)
        _timm_linear(keys, b + "mlp.fc1", mlp, hidden)
        _timm_linear(keys, b + "mlp.fc2", hidden, mlp)
        if layer_scale:
            keys[b + "ls1.gamma"] = keys[b + "ls2.gamma"] = (hidden,)
    _timm_norm(keys, "fc_norm" if fc_norm else "norm", hidden)
    _timm_linear(keys, "head", classes, hidden)
    if distilled:
        _timm_linear(keys, "head_dist", classes, hidden)
    if stem is not None:
        keys.update(timm_resnet(stem, prefix="patch_embed.backbone."))
    return keys


def timm_tnt(hidden, layers, inner, mlp, inner_mlp, patch_grid, word_grid, classes, kernel=7):
    words = word_grid * word_grid
    keys = {
        "cls_token": (1, 1, hidden),
        "patch_pos": (1, 1 + patch_grid * patch_grid, hidden),
        "pixel_pos": (1, inner, word_grid, word_grid),
        "pixel_embed.proj.weight": (inner, 3, kernel, kernel),
        "pixel_embed.proj.bias": (inner,),
    }
    _timm_norm(keys, "norm1_proj", words * inner)
    _timm_linear(keys, "proj", hidden, words * inner)
    _timm_norm(keys, "norm2_proj", hidden)
    for i in range(layers):
        b = f"blocks.{i}."
        for norm, width in (("norm_in", inner), ("norm_mlp_in", inner), ("norm1_proj", words * inner),
                            ("norm2_proj", hidden), ("norm_out", hidden), ("norm_mlp", hidden)):
            _timm_norm(keys, b + norm, width)
        for attn, width in (("attn_in", inner), ("attn_out", hidden)):
            _timm_linear(keys, b + attn + ".qk", 2 * width, width, bias=False)
            _timm_linear(keys, b + attn + ".v", width, width, bias=False)
            _timm_linear(keys, b + attn + ".proj", width, width)
        _timm_linear(keys, b + "mlp_in.fc1", inner_mlp, inner)
        _timm_linear(keys, b + "mlp_in.fc2", inner, inner_mlp)
        _timm_linear(keys, b + "proj", hidden, words * inner, bias=False)
        _timm_linear(keys, b + "mlp.fc1", mlp, hidden)
        _timm_linear(keys, b + "mlp.fc2", hidden, mlp)
    _timm_norm(keys, "norm", hidden)
    _timm_linear(keys, "head", classes, hidden)
    return keys


def bit_npz(stage_sizes, classes):
    """Keys of the BiT release's .npz (big_transfer): resnet/root_block, resnet/block{s}/unit{uu:02d}/{a,b,c}."""
    keys = {"resnet/root_block/standardized_conv2d/kernel": (7, 7, 3, 64)}
    for stage, unit, cin, mid, cout in bit_stages(stage_sizes):
        u = f"resnet/block{stage}/unit{unit:02d}/"
        for group, norm_width, kernel in (("a", cin, (1, 1, cin, mid)), ("b", mid, (3, 3, mid, mid)),
                                          ("c", mid, (1, 1, mid, cout))):
            keys[u + group + "/group_norm/gamma"] = keys[u + group + "/group_norm/beta"] = (norm_width,)
            keys[u + group + "/standardized_conv2d/kernel"] = kernel
        if unit == 1:
            keys[u + "a/proj/standardized_conv2d/kernel"] = (1, 1, cin, cout)
    width = 4 * 64 * 2 ** (len(stage_sizes) - 1)
    keys["resnet/group_norm/gamma"] = keys["resnet/group_norm/beta"] = (width,)
    keys["resnet/head/conv2d/kernel"], keys["resnet/head/conv2d/bias"] = (1, 1, width, classes), (classes,)
    return keys
