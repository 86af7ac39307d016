"""NumPy forward passes written from the papers' equations, independent of keras_vit's code."""

import math

import numpy as np

_erf = np.vectorize(math.erf)


def layer_norm(x, scale, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def gelu(x):
    """The exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def msa(x, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, relative_keys=None):
    """Multi-head self-attention (Vaswani et al. 2017): per head softmax(q k^T / sqrt(d_h)) v; heads concatenated
    and projected. x: (B, N, D); w_*: (D, D); relative_keys: (N, N, d_h) adds q_i . r_ij / sqrt(d_h) to the logits.
    """
    batch, n, d = x.shape
    dh = d // num_heads

    def heads(t):
        return t.reshape(batch, n, num_heads, dh).transpose(0, 2, 1, 3)  # (B, H, N, dh)

    q, k, v = heads(x @ w_q + b_q), heads(x @ w_k + b_k), heads(x @ w_v + b_v)
    logits = q @ k.transpose(0, 1, 3, 2)
    if relative_keys is not None:
        logits = logits + np.einsum("bhid,ijd->bhij", q, relative_keys)
    out = softmax(logits / math.sqrt(dh)) @ v  # (B, H, N, dh)
    return out.transpose(0, 2, 1, 3).reshape(batch, n, d) @ w_o + b_o


def attention_weights(x, w_q, b_q, w_k, b_k, num_heads, relative_keys=None, queries=None):
    """The softmax attention weights of multi-head attention, (B, H, M, N): per head softmax(q k^T / sqrt(d_h)),
    with q from `queries` (B, M, D) (default: x itself, self-attention) and k from x (B, N, D); relative_keys as in
    `msa`."""
    queries = x if queries is None else queries
    batch, d = x.shape[0], x.shape[-1]
    dh = d // num_heads
    q = (queries @ w_q + b_q).reshape(batch, queries.shape[1], num_heads, dh).transpose(0, 2, 1, 3)
    k = (x @ w_k + b_k).reshape(batch, x.shape[1], num_heads, dh).transpose(0, 2, 1, 3)
    logits = q @ k.transpose(0, 1, 3, 2)
    if relative_keys is not None:
        logits = logits + np.einsum("bhid,ijd->bhij", q, relative_keys)
    return softmax(logits / math.sqrt(dh))


def msa_cross(queries, x, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads):
    """Multi-head attention of `queries` (B, M, D) over tokens `x` (B, N, D)."""
    batch, m, d = queries.shape
    n, dh = x.shape[1], d // num_heads
    q = (queries @ w_q + b_q).reshape(batch, m, num_heads, dh).transpose(0, 2, 1, 3)
    k = (x @ w_k + b_k).reshape(batch, n, num_heads, dh).transpose(0, 2, 1, 3)
    v = (x @ w_v + b_v).reshape(batch, n, num_heads, dh).transpose(0, 2, 1, 3)
    out = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)) @ v
    return out.transpose(0, 2, 1, 3).reshape(batch, m, d) @ w_o + b_o


def mlp(x, w1, b1, w2, b2):
    return gelu(x @ w1 + b1) @ w2 + b2


def transformer_block(x, p, num_heads, eps):
    """ViT paper eq. 2-3: z' = MSA(LN(z)) + z; z = MLP(LN(z')) + z'. `p` holds the weights by name."""
    y = layer_norm(x, p["ln1_scale"], p["ln1_bias"], eps)
    x = x + msa(y, p["w_q"], p["b_q"], p["w_k"], p["b_k"], p["w_v"], p["b_v"], p["w_o"], p["b_o"], num_heads)
    y = layer_norm(x, p["ln2_scale"], p["ln2_bias"], eps)
    return x + mlp(y, p["w1"], p["b1"], p["w2"], p["b2"])


def conv_valid(x, kernel, stride):
    """Unpadded ("VALID") 2-D convolution of NHWC `x` with an HWIO `kernel`."""
    _, height, width, _ = x.shape
    kh, kw = kernel.shape[:2]
    out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            window = x[:, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
            out += window @ kernel[i, j]
    return out


def conv_same(x, kernel, stride):
    """TensorFlow/JAX "SAME" convolution: out = ceil(in / stride), padding split with the extra pixel after."""
    _, height, width, _ = x.shape
    kh, kw = kernel.shape[:2]
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + kh - height, 0)
    pad_w = max((out_w - 1) * stride + kw - width, 0)
    x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    return conv_valid(x, kernel, stride)


def conv_symmetric(x, kernel, stride):
    """The BiT release's padding: (k - 1) // 2 zeros on each side of an odd kernel, whatever the input size."""
    kh, kw = kernel.shape[:2]
    x = np.pad(x, ((0, 0), ((kh - 1) // 2, (kh - 1) // 2), ((kw - 1) // 2, (kw - 1) // 2), (0, 0)))
    return conv_valid(x, kernel, stride)
