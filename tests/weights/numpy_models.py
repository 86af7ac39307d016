"""NumPy forward passes that read the checkpoint tensors in their published layouts (not keras_vit's variables):
the original release's ViT and R50 hybrid (Flax .npz names, tanh GELU), timm's ViT family (DeiT, DeiT-III,
register tokens) and timm's TNT."""

import numpy as np

from tests import numpy_reference as ref


def max_pool_same(x, size=3, stride=2):
    height, width = x.shape[1:3]
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + size - height, 0)
    pad_w = max((out_w - 1) * stride + size - width, 0)
    x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
               constant_values=-np.inf)
    windows = [x[:, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
               for i in range(size) for j in range(size)]
    return np.max(windows, axis=0)


def flax_std(kernel):
    """The ViT release's weight standardization: (w - mean) / (std + 1e-5) over (kh, kw, in)."""
    centered = kernel - kernel.mean(axis=(0, 1, 2), keepdims=True)
    return centered / (centered.std(axis=(0, 1, 2), keepdims=True) + 1e-5)


def group_norm(x, scale, bias, groups=32, eps=1e-6):
    shape = x.shape
    g = x.reshape(*shape[:-1], groups, shape[-1] // groups)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(shape) * scale + bias


def relu(x):
    return np.maximum(x, 0.0)


def flax_resnet(t, x, stage_sizes):
    """The ViT release's hybrid stem: StdConv root + GroupNorm + ReLU + max-pool, post-activation units."""
    x = relu(group_norm(ref.conv_same(x, flax_std(t["conv_root/kernel"]), 2), t["gn_root/scale"], t["gn_root/bias"]))
    x = max_pool_same(x)
    for stage, size in enumerate(stage_sizes, start=1):
        for unit in range(1, size + 1):
            u = f"block{stage}/unit{unit}/"
            stride = 2 if stage > 1 and unit == 1 else 1

            def gn(y, name, u=u):
                return group_norm(y, t[u + name + "/scale"], t[u + name + "/bias"])

            residual = x
            if u + "conv_proj/kernel" in t:
                residual = gn(ref.conv_same(x, flax_std(t[u + "conv_proj/kernel"]), stride), "gn_proj")
            y = relu(gn(ref.conv_same(x, flax_std(t[u + "conv1/kernel"]), 1), "gn1"))
            y = relu(gn(ref.conv_same(y, flax_std(t[u + "conv2/kernel"]), stride), "gn2"))
            y = gn(ref.conv_same(y, flax_std(t[u + "conv3/kernel"]), 1), "gn3")
            x = relu(residual + y)
    return x


def patchify(x, patch):
    batch, height, width, channels = x.shape
    rows, cols = height // patch, width // patch
    x = x.reshape(batch, rows, patch, cols, patch, channels).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, rows * cols, patch * patch * channels)


def gelu_tanh(x):
    """The tanh approximation of GELU (Hendrycks & Gimpel 2016), Flax's `nn.gelu` default, which the original ViT
    release's MlpBlock calls: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


GELU = {"tanh": gelu_tanh, "exact": ref.gelu}


def _pre_norm_block(x, p, num_heads, eps, gelu):
    """ViT paper eq. 2-3 with the MLP's GELU chosen: z' = MSA(LN(z)) + z; z = MLP(LN(z')) + z'."""
    y = ref.layer_norm(x, p["ln1_scale"], p["ln1_bias"], eps)
    x = x + ref.msa(y, p["w_q"], p["b_q"], p["w_k"], p["b_k"], p["w_v"], p["b_v"], p["w_o"], p["b_o"], num_heads)
    y = ref.layer_norm(x, p["ln2_scale"], p["ln2_bias"], eps)
    return x + GELU[gelu](y @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def flax_vit(t, images, num_heads, stem=None, eps=1e-6, gelu="tanh"):
    """Logits of the original release's ViT (optionally with an R50 stem) from its .npz tensors; its MLP's GELU is
    the tanh approximation (Flax's nn.gelu) unless gelu="exact"."""
    x = images.astype(np.float64)
    if stem is not None:
        x = flax_resnet(t, x, stem)
    kernel = t["embedding/kernel"]
    tokens = patchify(x, kernel.shape[0]) @ kernel.reshape(-1, kernel.shape[-1]) + t["embedding/bias"]
    cls = np.broadcast_to(t["cls"], (tokens.shape[0], 1, tokens.shape[-1]))
    x = np.concatenate([cls, tokens], axis=1) + t["Transformer/posembed_input/pos_embedding"]
    hidden = x.shape[-1]
    i = 0
    while f"Transformer/encoderblock_{i}/LayerNorm_0/scale" in t:
        b = f"Transformer/encoderblock_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        p = {
            "ln1_scale": t[b + "LayerNorm_0/scale"], "ln1_bias": t[b + "LayerNorm_0/bias"],
            "ln2_scale": t[b + "LayerNorm_2/scale"], "ln2_bias": t[b + "LayerNorm_2/bias"],
            "w_o": t[a + "out/kernel"].reshape(hidden, hidden), "b_o": t[a + "out/bias"],
            "w1": t[b + "MlpBlock_3/Dense_0/kernel"], "b1": t[b + "MlpBlock_3/Dense_0/bias"],
            "w2": t[b + "MlpBlock_3/Dense_1/kernel"], "b2": t[b + "MlpBlock_3/Dense_1/bias"],
        }
        for short, part in (("q", "query"), ("k", "key"), ("v", "value")):
            p["w_" + short] = t[a + part + "/kernel"].reshape(hidden, hidden)
            p["b_" + short] = t[a + part + "/bias"].reshape(hidden)
        x = _pre_norm_block(x, p, num_heads, eps, gelu)
        i += 1
    y = ref.layer_norm(x, t["Transformer/encoder_norm/scale"], t["Transformer/encoder_norm/bias"], eps)[:, 0]
    if "pre_logits/kernel" in t:
        y = np.tanh(y @ t["pre_logits/kernel"] + t["pre_logits/bias"])
    return y @ t["head/kernel"] + t["head/bias"]


def timm_vit(t, images, num_heads, eps=1e-6):
    """Logits of timm's VisionTransformer from its state dict: [cls, dist, reg] tokens before the patches, positions
    added to the whole sequence or (no_embed_class) to the patches only, LayerScale on both branches when present,
    and the head on the class token, the mean of head and head_dist (DeiT distilled), or fc_norm of the average of
    the patch tokens (registers excluded)."""
    weight = t["patch_embed.proj.weight"]  # (out, in, kh, kw) -> rows in patchify's (kh, kw, in) order
    kernel = weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
    tokens = patchify(images.astype(np.float64), weight.shape[-1]) @ kernel + t["patch_embed.proj.bias"]
    batch, num_patches, hidden = tokens.shape
    prefix = [np.broadcast_to(t[k], (batch, t[k].shape[1], hidden)) for k in ("cls_token", "dist_token", "reg_token")
              if k in t]
    num_prefix = sum(p.shape[1] for p in prefix)
    if t["pos_embed"].shape[1] == num_patches:  # no_embed_class
        x = np.concatenate([*prefix, tokens + t["pos_embed"]], axis=1)
    else:
        x = np.concatenate([*prefix, tokens], axis=1) + t["pos_embed"]
    i = 0
    while f"blocks.{i}.norm1.weight" in t:
        b = f"blocks.{i}."
        qkv, qkv_bias = t[b + "attn.qkv.weight"], t[b + "attn.qkv.bias"]
        y = ref.layer_norm(x, t[b + "norm1.weight"], t[b + "norm1.bias"], eps)
        y = ref.msa(y, qkv[:hidden].T, qkv_bias[:hidden], qkv[hidden : 2 * hidden].T, qkv_bias[hidden : 2 * hidden],
                    qkv[2 * hidden :].T, qkv_bias[2 * hidden :], t[b + "attn.proj.weight"].T, t[b + "attn.proj.bias"],
                    num_heads)
        x = x + y * t.get(b + "ls1.gamma", 1.0)
        y = ref.layer_norm(x, t[b + "norm2.weight"], t[b + "norm2.bias"], eps)
        y = ref.mlp(y, t[b + "mlp.fc1.weight"].T, t[b + "mlp.fc1.bias"], t[b + "mlp.fc2.weight"].T,
                    t[b + "mlp.fc2.bias"])
        x = x + y * t.get(b + "ls2.gamma", 1.0)
        i += 1

    def head(name, features):
        return features @ t[name + ".weight"].T + t[name + ".bias"]

    if "fc_norm.weight" in t:
        pooled = x[:, num_prefix:].mean(axis=1)
        return head("head", ref.layer_norm(pooled, t["fc_norm.weight"], t["fc_norm.bias"], eps))
    x = ref.layer_norm(x, t["norm.weight"], t["norm.bias"], eps)
    if "head_dist.weight" in t:
        return (head("head", x[:, 0]) + head("head_dist", x[:, 1])) / 2
    return head("head", x[:, 0])


def _timm_block(x, t, b, names, num_heads, eps):
    """A timm pre-norm block whose attention has separate qk and v Linear layers (TNT)."""
    width = x.shape[-1]
    zeros = np.zeros(width)
    qk = t[b + names["attn"] + ".qk.weight"]
    p = {
        "ln1_scale": t[b + names["norm1"] + ".weight"], "ln1_bias": t[b + names["norm1"] + ".bias"],
        "ln2_scale": t[b + names["norm2"] + ".weight"], "ln2_bias": t[b + names["norm2"] + ".bias"],
        "w_q": qk[:width].T, "b_q": zeros, "w_k": qk[width:].T, "b_k": zeros,
        "w_v": t[b + names["attn"] + ".v.weight"].T, "b_v": zeros,
        "w_o": t[b + names["attn"] + ".proj.weight"].T, "b_o": t[b + names["attn"] + ".proj.bias"],
        "w1": t[b + names["mlp"] + ".fc1.weight"].T, "b1": t[b + names["mlp"] + ".fc1.bias"],
        "w2": t[b + names["mlp"] + ".fc2.weight"].T, "b2": t[b + names["mlp"] + ".fc2.bias"],
    }
    return ref.transformer_block(x, p, num_heads, eps)


def timm_tnt(t, images, patch, stride, num_heads, inner_num_heads, eps=1e-5):
    """Logits of timm's (non-legacy) TNT from its state dict: words from a convolution inside each zero-padded
    patch, inner and outer pre-norm transformers, patch tokens updated from the flattened words."""
    kernel = t["pixel_embed.proj.weight"].transpose(2, 3, 1, 0)  # (k, k, C, d) for the einsum below
    k = kernel.shape[0]
    batch, height, width, _ = images.shape
    patches = []
    for r in range(height // patch):
        for c in range(width // patch):
            p = np.pad(images[:, r * patch : (r + 1) * patch, c * patch : (c + 1) * patch].astype(np.float64),
                       ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
            words = [np.einsum("bijc,ijco->bo", p[:, i * stride : i * stride + k, j * stride : j * stride + k], kernel)
                     for i in range(patch // stride) for j in range(patch // stride)]
            patches.append(np.stack(words, axis=1) + t["pixel_embed.proj.bias"])
    words = np.stack(patches, axis=1)  # (B, N, w, d)
    words = words + t["pixel_pos"][0].transpose(1, 2, 0).reshape(-1, words.shape[-1])
    num_patches, num_words, inner = words.shape[1:]

    def project(w, prefix, bias=True):
        flat = ref.layer_norm(w.reshape(batch, num_patches, -1), t[prefix + "norm1_proj.weight"],
                              t[prefix + "norm1_proj.bias"], eps)
        out = flat @ t[prefix + "proj.weight"].T + (t[prefix + "proj.bias"] if bias else 0.0)
        return ref.layer_norm(out, t[prefix + "norm2_proj.weight"], t[prefix + "norm2_proj.bias"], eps)

    tokens = project(words, "")
    cls = np.broadcast_to(t["cls_token"], (batch, 1, tokens.shape[-1]))
    tokens = np.concatenate([cls, tokens], axis=1) + t["patch_pos"]
    i = 0
    while f"blocks.{i}.norm_in.weight" in t:
        b = f"blocks.{i}."
        flat = words.reshape(batch * num_patches, num_words, inner)
        flat = _timm_block(flat, t, b, {"norm1": "norm_in", "attn": "attn_in", "norm2": "norm_mlp_in",
                                        "mlp": "mlp_in"}, inner_num_heads, eps)
        words = flat.reshape(batch, num_patches, num_words, inner)
        tokens = tokens + np.pad(project(words, b, bias=False), ((0, 0), (1, 0), (0, 0)))
        tokens = _timm_block(tokens, t, b, {"norm1": "norm_out", "attn": "attn_out", "norm2": "norm_mlp",
                                            "mlp": "mlp"}, num_heads, eps)
        i += 1
    y = ref.layer_norm(tokens, t["norm.weight"], t["norm.bias"], eps)[:, 0]
    return y @ t["head.weight"].T + t["head.bias"]
