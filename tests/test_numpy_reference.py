"""MSA and TransformerBlock against NumPy forward passes written from the equations (tolerance 1e-5)."""

import numpy as np

from keras_vit.layers import MSA, RelativePosition, TransformerBlock
from tests import numpy_reference as ref

D, HEADS, N, B = 16, 4, 7, 3


def random_attention_weights(rng):
    return {name: rng.normal(scale=0.3, size=shape).astype("float32") for name, shape in [
        ("w_q", (D, D)), ("b_q", (D,)), ("w_k", (D, D)), ("b_k", (D,)), ("w_v", (D, D)), ("b_v", (D,)),
        ("w_o", (D, D)), ("b_o", (D,)),
    ]}


def load_attention(layer, p):
    # The fused projection's output columns are [query | key | value], each head-major.
    layer.qkv.kernel.assign(np.concatenate([p["w_q"], p["w_k"], p["w_v"]], axis=1))
    layer.qkv.bias.assign(np.concatenate([p["b_q"], p["b_k"], p["b_v"]]))
    layer.projection.kernel.assign(p["w_o"])
    layer.projection.bias.assign(p["b_o"])


def test_msa_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, N, D)).astype("float32")
    p = random_attention_weights(rng)
    layer = MSA(D, HEADS)
    layer.build((B, N, D))
    load_attention(layer, p)
    expected = ref.msa(x, *[p[k] for k in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")], HEADS)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5, rtol=1e-5)


def test_msa_with_attention_dropout_path_matches_numpy_at_inference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, N, D)).astype("float32")
    p = random_attention_weights(rng)
    layer = MSA(D, HEADS, attention_dropout_rate=0.5)  # takes the explicit-softmax code path
    layer.build((B, N, D))
    load_attention(layer, p)
    expected = ref.msa(x, *[p[k] for k in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")], HEADS)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), expected, atol=1e-5, rtol=1e-5)


def test_msa_with_relative_keys_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, N, D)).astype("float32")
    p = random_attention_weights(rng)
    relative = RelativePosition(num_tokens=N, key_dim=D // HEADS)
    relative.build((B, N, D))
    table = rng.normal(size=(2 * N - 1, D // HEADS)).astype("float32")
    relative.embeddings.assign(table)
    # Entry [i, j] is the embedding of the offset i - j, rows ordered from -(N-1) to N-1.
    keys = np.stack([np.stack([table[i - j + N - 1] for j in range(N)]) for i in range(N)])
    np.testing.assert_allclose(np.asarray(relative(x)), keys)
    layer = MSA(D, HEADS)
    layer.build((B, N, D))
    load_attention(layer, p)
    expected = ref.msa(x, *[p[k] for k in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")], HEADS, keys)
    np.testing.assert_allclose(np.asarray(layer(x, relative_keys=relative(x))), expected, atol=1e-5, rtol=1e-5)


def test_transformer_block_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(B, N, D)).astype("float32")
    p = random_attention_weights(rng)
    p.update(
        ln1_scale=rng.normal(1, 0.1, D), ln1_bias=rng.normal(0, 0.1, D), ln2_scale=rng.normal(1, 0.1, D),
        ln2_bias=rng.normal(0, 0.1, D), w1=rng.normal(0, 0.3, (D, 32)), b1=rng.normal(0, 0.1, 32),
        w2=rng.normal(0, 0.3, (32, D)), b2=rng.normal(0, 0.1, D),
    )
    p = {k: np.asarray(v, "float32") for k, v in p.items()}
    block = TransformerBlock(D, HEADS, 32, layer_norm_epsilon=1e-6)
    block.build((B, N, D))
    load_attention(block.attention, p)
    block.norm1.gamma.assign(p["ln1_scale"])
    block.norm1.beta.assign(p["ln1_bias"])
    block.norm2.gamma.assign(p["ln2_scale"])
    block.norm2.beta.assign(p["ln2_bias"])
    block.mlp.fc1.kernel.assign(p["w1"])
    block.mlp.fc1.bias.assign(p["b1"])
    block.mlp.fc2.kernel.assign(p["w2"])
    block.mlp.fc2.bias.assign(p["b2"])
    expected = ref.transformer_block(x, p, HEADS, 1e-6)
    np.testing.assert_allclose(np.asarray(block(x)), expected, atol=1e-5, rtol=1e-5)


def test_sincos_table_matches_the_formula():
    from keras_vit.layers import SinCosPosition2D

    layer = SinCosPosition2D(grid_size=(2, 3), num_prefix_tokens=1, temperature=10000.0)
    layer.build((1, 7, 8))
    table = np.asarray(layer.position_table())[0, 1:]  # the class token's row is zeros
    np.testing.assert_array_equal(np.asarray(layer.position_table())[0, 0], np.zeros(8))
    # Patch (row 1, column 2) is token 1 * 3 + 2 = 5; quarter width 2 gives frequencies 1 and 1/100.
    omega = np.array([1.0, 0.01])
    expected = np.concatenate([np.sin(1 * omega), np.cos(1 * omega), np.sin(2 * omega), np.cos(2 * omega)])
    np.testing.assert_allclose(table[5], expected, atol=1e-6)


def test_map_pooling_matches_numpy():
    from keras_vit.layers import MAPPooling

    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, N, D)).astype("float32")
    layer = MAPPooling(num_heads=HEADS, intermediate_dim=32)
    layer.build((B, N, D))
    for variable in layer.weights:
        variable.assign(rng.normal(scale=0.3, size=variable.shape).astype("float32"))
    w = {v.path.split("/", 1)[1]: np.asarray(v) for v in layer.weights}
    # One query (the probe) over all tokens: softmax(q k^T / sqrt(d_h)) v per head, projected, then x + MLP(LN(x)).
    kv_kernel, kv_bias = w["key_value/kernel"], w["key_value/bias"]
    probe = np.broadcast_to(w["probe"], (B, 1, D))
    attended = ref.msa_cross(
        probe, x, w["query/kernel"], w["query/bias"], kv_kernel[:, :D], kv_bias[:D], kv_kernel[:, D:], kv_bias[D:],
        w["projection/kernel"], w["projection/bias"], HEADS,
    )
    normed = ref.layer_norm(attended, w["norm/gamma"], w["norm/beta"], 1e-6)
    expected = (attended + ref.mlp(normed, w["mlp/fc1/kernel"], w["mlp/fc1/bias"], w["mlp/fc2/kernel"], w["mlp/fc2/bias"]))[:, 0]
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5, rtol=1e-5)
