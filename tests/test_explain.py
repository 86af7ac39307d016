"""keras_vit.explain: attention maps against NumPy computations from the blocks' weights, rollout on a hand-computed
example, the forward pass untouched by extraction, the figures' arrays, the `keras-vit explain` command, and errors."""

import math
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.spec import thaw
from tests import numpy_reference as ref
from tests.test_cli import environment

TINY_VIT = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                num_classes=3)


def randomized(model, seed=0, scale=0.3):
    """`model` with every variable drawn from N(0, scale): attention far from uniform, position tables that
    matter."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, scale, variable.shape).astype("float32"))
    return model


def images_for(model, batch=2, seed=1):
    _, height, width, channels = model.input_shape
    return np.random.default_rng(seed).normal(size=(batch, height, width, channels)).astype("float32")


def array(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")


def block_params(block):
    """A TransformerBlock's weights in the NumPy reference's names (the fused projection is [query|key|value])."""
    attention = block.attention
    kernel = array(attention.qkv.kernel)
    width = kernel.shape[0]
    bias = array(attention.qkv.bias) if attention.use_qkv_bias else np.zeros(3 * width)
    p = {f"w_{n}": kernel[:, i * width : (i + 1) * width] for i, n in enumerate("qkv")}
    p.update({f"b_{n}": bias[i * width : (i + 1) * width] for i, n in enumerate("qkv")})
    p.update(w_o=array(attention.projection.kernel), b_o=array(attention.projection.bias),
             ln1_scale=array(block.norm1.gamma), ln1_bias=array(block.norm1.beta),
             ln2_scale=array(block.norm2.gamma), ln2_bias=array(block.norm2.beta),
             w1=array(block.mlp.fc1.kernel), b1=array(block.mlp.fc1.bias),
             w2=array(block.mlp.fc2.kernel), b2=array(block.mlp.fc2.bias))
    return p


def relative_keys(table, num_tokens):
    # Entry [i, j] is the embedding of the offset i - j; the table's rows run from -(N-1) to N-1.
    return np.stack([np.stack([table[i - j + num_tokens - 1] for j in range(num_tokens)]) for i in range(num_tokens)])


def vit_reference_maps(model, images, encoding, heads=2, eps=1e-6):
    """The tiny ViT's attention weights from its variables: ViT paper eq. 1-3, written in NumPy."""
    embed = model.get_layer("patch_embed").projection
    x = ref.conv_valid(images.astype("float64"), array(embed.kernel), 8) + array(embed.bias)
    x = x.reshape(len(images), -1, x.shape[-1])
    token = array(model.get_layer("class_token").token)
    x = np.concatenate([np.broadcast_to(token, (len(images), 1, x.shape[-1])), x], axis=1)
    if encoding == "learned_1d":
        x = x + array(model.get_layer("position_embedding").embeddings)
    maps = []
    for index in range(2):
        p = block_params(model.get_layer(f"block_{index}"))
        keys = None
        if encoding == "relative":  # one table per block (the default placement of relative attention)
            keys = relative_keys(array(model.get_layer(f"relative_position_{index}").embeddings), x.shape[1])
        y = ref.layer_norm(x, p["ln1_scale"], p["ln1_bias"], eps)
        maps.append(ref.attention_weights(y, p["w_q"], p["b_q"], p["w_k"], p["b_k"], heads, keys))
        x = x + ref.msa(y, *[p[k] for k in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")], heads, keys)
        x = x + ref.mlp(ref.layer_norm(x, p["ln2_scale"], p["ln2_bias"], eps), p["w1"], p["b1"], p["w2"], p["b2"])
    return maps


@pytest.mark.parametrize("encoding", ["learned_1d", "relative", "none"])
def test_vit_maps_match_numpy(encoding):
    model = randomized(keras_vit.create("vit_ti16", position_encoding=encoding, **TINY_VIT))
    images = images_for(model)
    maps = keras_vit.attention_maps(model, images, batch_size=1)  # two extraction steps, concatenated
    expected = vit_reference_maps(model, images, encoding)
    assert len(maps) == 2
    for got, want in zip(maps, expected):
        assert got.shape == (2, 2, 17, 17) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(maps[1].sum(-1), 1.0, atol=1e-5)
    only_last = keras_vit.attention_maps(model, images, block_indices=[-1])
    np.testing.assert_allclose(only_last[0], expected[1], atol=2e-5)


def tnt_reference_maps(block, words, tokens, heads=2, inner_heads=2, eps=1e-5):
    """One TNT block's outer and inner attention weights (TNT paper eq. 2-5) from its variables, in NumPy."""
    batch, patches, num_words, d = words.shape
    inner, outer = block_params(block.inner_block), block_params(block.outer_block)
    flat = words.reshape(batch * patches, num_words, d)
    normed = ref.layer_norm(flat, inner["ln1_scale"], inner["ln1_bias"], eps)
    inner_maps = ref.attention_weights(normed, inner["w_q"], inner["b_q"], inner["w_k"], inner["b_k"], inner_heads)
    y = ref.transformer_block(flat, inner, inner_heads, eps).reshape(batch, patches, num_words * d)
    projection = block.pixel_projection
    update = ref.layer_norm(y, array(projection.norm1.gamma), array(projection.norm1.beta), eps)
    update = ref.layer_norm(update @ array(projection.projection.kernel), array(projection.norm2.gamma),
                            array(projection.norm2.beta), eps)
    z = tokens.copy()
    z[:, 1:] += update  # the class token receives nothing from the words
    normed = ref.layer_norm(z, outer["ln1_scale"], outer["ln1_bias"], eps)
    outer_maps = ref.attention_weights(normed, outer["w_q"], outer["b_q"], outer["w_k"], outer["b_k"], heads)
    return outer_maps, inner_maps.reshape(batch, patches, inner_heads, num_words, num_words)


def test_tnt_outer_and_inner_maps_match_numpy():
    model = randomized(keras_vit.create("tnt_s16", **thaw(keras_vit.get_spec("tnt_s16").tiny)), scale=0.2)
    images = images_for(model)
    # Each block's inputs, read from the layers before it (not from the blocks' own inputs, as extraction does).
    sources = [model.get_layer("pixel_position").output, model.get_layer("dropout").output,
               *model.get_layer("block_0").output]
    values = [array(v) for v in keras.Model(model.input, sources)(images)]
    outer = keras_vit.attention_maps(model, images)
    inner = keras_vit.attention_maps(model, images, inner=True)
    for index, (words, tokens) in enumerate([values[:2], values[2:]]):
        want_outer, want_inner = tnt_reference_maps(model.get_layer(f"block_{index}"), words, tokens)
        assert outer[index].shape == (2, 2, 17, 17) and inner[index].shape == (2, 16, 2, 16, 16)
        np.testing.assert_allclose(outer[index], want_outer, atol=2e-5)
        np.testing.assert_allclose(inner[index], want_inner, atol=2e-5)


def test_map_pooling_probe_attention_matches_numpy():
    from keras_vit.explain import pooling_attention

    model = randomized(keras_vit.create("vit_ti16", pooling="map", use_class_token=False, **TINY_VIT))
    images = images_for(model)
    tokens = array(keras.Model(model.input, model.get_layer("encoder_norm").output)(images))
    pooling = model.get_layer("pooling")
    kernel, bias, width = array(pooling.key_value.kernel), array(pooling.key_value.bias), tokens.shape[-1]
    probe = np.broadcast_to(array(pooling.probe), (2, 1, width))
    want = ref.attention_weights(tokens, array(pooling.query.kernel), array(pooling.query.bias), kernel[:, :width],
                                 bias[:width], 2, queries=probe)
    got = pooling_attention(model, images)
    assert got.shape == (2, 2, 1, 16)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_rollout_of_a_hand_computed_two_block_example():
    from keras_vit.explain import rollout

    identity, uniform = np.eye(3), np.full((3, 3), 1 / 3)
    to_first = np.tile([1.0, 0.0, 0.0], (3, 1))  # every token attends to token 0
    block_1 = np.stack([identity, uniform])[None]  # (batch 1, 2 heads, 3, 3)
    block_2 = np.stack([to_first, to_first])[None]
    # Block 1: heads averaged (I + U) / 2, then (that + I) / 2 = 3/4 I + 1/4 U: 5/6 on the diagonal, 1/12 off it.
    # Block 2: (to_first + I) / 2. Rollout = A_2 A_1: row 0 is A_1's row 0; rows 1 and 2 average it with their own.
    expected = np.array([
        [5 / 6, 1 / 12, 1 / 12],
        [11 / 24, 11 / 24, 1 / 12],
        [11 / 24, 1 / 12, 11 / 24],
    ])
    np.testing.assert_allclose(rollout([block_1, block_2])[0], expected, atol=1e-6)
    # Without the residual identity: the raw head means multiplied, A_2 A_1 = to_first A_1 = A_1's row 0 everywhere.
    np.testing.assert_allclose(rollout([block_1, block_2], residual=False)[0], np.tile([2 / 3, 1 / 6, 1 / 6], (3, 1)),
                               atol=1e-6)


def test_rollout_and_class_token_attention_of_a_model():
    model = randomized(keras_vit.create("vit_ti16", **TINY_VIT))
    images = images_for(model)
    maps = keras_vit.attention_maps(model, images)
    saliency = keras_vit.attention_rollout(model, images)
    # The class token's row of (mean_h W_2 + I)/2 (mean_h W_1 + I)/2, over the 4x4 patches (the class token dropped).
    steps = [(m.mean(1) + np.eye(17)) / 2 for m in maps]
    want = (steps[1] @ steps[0])[:, 0, 1:].reshape(2, 4, 4)
    np.testing.assert_allclose(saliency.grid, want, atol=1e-5)
    assert saliency.image.shape == (2, 32, 32)
    heads = keras_vit.class_token_attention(model, images)
    np.testing.assert_allclose(heads.grid, maps[-1][:, :, 0, 1:].reshape(2, 2, 4, 4), atol=1e-6)
    assert heads.image.shape == (2, 2, 32, 32)
    # Bilinear upsampling with pixel centers: the corner pixels keep the corner patches' values.
    np.testing.assert_allclose(heads.image[:, :, 0, 0], heads.grid[:, :, 0, 0], atol=1e-6)
    np.testing.assert_allclose(heads.image[:, :, -1, -1], heads.grid[:, :, -1, -1], atol=1e-6)


def test_average_pooling_reads_the_mean_patch_row():
    model = randomized(keras_vit.create("vit_ti16", pooling="gap", use_class_token=False, **TINY_VIT))
    images = images_for(model)
    last = keras_vit.attention_maps(model, images, block_indices=[-1])[0]
    heads = keras_vit.class_token_attention(model, images)
    np.testing.assert_allclose(heads.grid, last.mean(2).reshape(2, 2, 4, 4), atol=1e-6)


def test_forward_pass_and_predict_are_unchanged_by_extraction():
    model = randomized(keras_vit.create("vit_ti16", position_encoding="relative", **TINY_VIT))
    images = images_for(model, batch=3)
    before_call, before_predict = np.asarray(model(images)), model.predict(images, verbose=0)
    layers, config = [layer.name for layer in model.layers], model.get_config()
    keras_vit.attention_maps(model, images)
    keras_vit.attention_rollout(model, images)
    np.testing.assert_array_equal(np.asarray(model(images)), before_call)
    np.testing.assert_array_equal(model.predict(images, verbose=0), before_predict)
    assert [layer.name for layer in model.layers] == layers and model.get_config() == config


@pytest.mark.parametrize("name", ["deit_ti16_distilled", "vit_r_ti16"])
def test_distilled_and_hybrid_models(name):
    model = keras_vit.create(name, **thaw(keras_vit.get_spec(name).tiny))
    images = images_for(model, batch=1)
    maps = keras_vit.attention_maps(model, images)
    prefix, (rows, columns) = model.layout.num_prefix_tokens, model.layout.grid_size
    tokens = prefix + rows * columns
    assert [m.shape for m in maps] == [(1, 2, tokens, tokens)] * 2
    np.testing.assert_allclose(maps[-1].sum(-1), 1.0, atol=1e-5)
    assert keras_vit.attention_rollout(model, images).grid.shape == (1, rows, columns)


def test_position_similarity_is_the_cosine_of_the_table():
    model = randomized(keras_vit.create("vit_ti16", **TINY_VIT))
    table = array(model.get_layer("position_embedding").embeddings)[0, 1:]  # the patches' rows
    similarity = keras_vit.position_similarity(model)
    assert similarity.shape == (4, 4, 4, 4)
    # Patch (1, 2) is row 6 of the grid; compare it with patch (3, 0), row 12.
    a, b = table[6], table[12]
    np.testing.assert_allclose(similarity[1, 2, 3, 0], a @ b / np.linalg.norm(a) / np.linalg.norm(b), atol=1e-6)
    np.testing.assert_allclose(np.diagonal(similarity.reshape(16, 16)), 1.0, atol=1e-6)


def test_embedding_filters_are_the_principal_components():
    model = randomized(keras_vit.create("vit_ti16", **TINY_VIT))
    components, explained = keras_vit.embedding_filters(model, num_components=5)
    assert components.shape == (5, 8, 8, 3)
    # Against the eigenvectors of the filters' covariance (another route to the same components, up to sign).
    filters = array(model.get_layer("patch_embed").projection.kernel).reshape(-1, 32).T  # (32 filters, 192 pixels)
    centered = filters - filters.mean(0)
    values, vectors = np.linalg.eigh(centered.T @ centered)
    order = np.argsort(values)[::-1][:5]
    np.testing.assert_allclose(np.abs(np.sum(components.reshape(5, -1) * vectors[:, order].T, axis=1)), 1.0, atol=1e-4)
    np.testing.assert_allclose(explained, values[order] / values.sum(), atol=1e-5)


def test_mean_attention_distance_weighs_patch_distances():
    model = randomized(keras_vit.create("vit_ti16", **TINY_VIT))
    images = images_for(model)
    distances = keras_vit.mean_attention_distance(model, images)
    maps = keras_vit.attention_maps(model, images)
    assert distances.shape == (2, 2)
    # Block 1, head 0 by loops: patch centers 8 pixels apart on the 4x4 grid; prefix token dropped, rows renormalized.
    total = 0.0
    for b in range(2):
        for i in range(16):
            weights = maps[1][b, 0, 1 + i, 1:] / maps[1][b, 0, 1 + i, 1:].sum()
            total += sum(weights[j] * 8 * math.hypot(i // 4 - j // 4, i % 4 - j % 4) for j in range(16))
    np.testing.assert_allclose(distances[1, 0], total / 32, rtol=1e-5)


def test_tnt_feature_maps_put_words_back_in_place():
    model = keras_vit.create("tnt_s16", **thaw(keras_vit.get_spec("tnt_s16").tiny))
    images = images_for(model, batch=1)
    [(patches, pixels)] = keras_vit.tnt_feature_maps(model, images, block_indices=[1])
    words, tokens = (array(t) for t in keras.Model(model.input, model.get_layer("block_1").output)(images))
    assert patches.shape == (1, 4, 4, 32) and pixels.shape == (1, 16, 16, 8)
    # Patch (r, c) = token 1 + 4r + c; its word (i, j) = word 4i + j, at pixel (4r + i, 4c + j).
    np.testing.assert_allclose(patches[0, 2, 3], tokens[0, 1 + 4 * 2 + 3], atol=1e-6)
    np.testing.assert_allclose(pixels[0, 4 * 2 + 1, 4 * 3 + 2], words[0, 4 * 2 + 3, 4 * 1 + 2], atol=1e-6)
    figure = keras_vit.explain.plot_tnt_features([(patches, pixels)], np.zeros((32, 32, 3)), num_channels=3)
    assert len(figure.axes) == 9


def test_bad_input_is_a_clear_error():
    vit = keras_vit.create("vit_ti16", **TINY_VIT)
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, 32, 32, 3\).*keras_vit.preprocessing"):
        keras_vit.attention_maps(vit, np.zeros((1, 64, 64, 3), "float32"))
    with pytest.raises(ValueError, match="Block index 5 is out of range: model 'vit_ti16' has 2 blocks"):
        keras_vit.attention_maps(vit, images_for(vit), block_indices=[5])
    with pytest.raises(ValueError, match="inner.*TNT"):
        keras_vit.attention_maps(vit, images_for(vit), inner=True)
    with pytest.raises(ValueError, match="does not pool by attention"):
        keras_vit.explain.pooling_attention(vit, images_for(vit))
    resnet = keras_vit.create("bit_r50x1", **thaw(keras_vit.get_spec("bit_r50x1").tiny))
    with pytest.raises(ValueError, match="Model 'bit_r50x1' has no attention.*ViT-family"):
        keras_vit.attention_rollout(resnet, images_for(resnet))
    relative = keras_vit.create("vit_ti16", position_encoding="relative", **TINY_VIT)
    with pytest.raises(ValueError, match="no learned position table"):
        keras_vit.position_similarity(relative)


def test_explain_command_writes_pngs(tmp_path):
    import tensorflow as tf

    model = keras_vit.create("vit_ti16", **TINY_VIT)
    model.save(tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    paths = []
    for name, size in (("digit.png", 32), ("other.jpg", 48)):  # any size: the command resizes as the model expects
        pixels = rng.integers(0, 256, (size, size, 3), dtype="uint8")
        encode = tf.io.encode_png if name.endswith("png") else tf.io.encode_jpeg
        (tmp_path / name).write_bytes(encode(pixels).numpy())
        paths.append(str(tmp_path / name))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", "explain", *paths, "--model", str(tmp_path / "model.keras"),
         "--figures", "--output_dir", str(out)],
        env=environment(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {"digit_attention.png", "other_attention.png", "position_similarity.png", "embedding_filters.png",
                "attention_distance.png", "patch_tsne.png"}  # t-SNE: 2 images x 16 patches > perplexity 30
    assert {p.name for p in out.iterdir()} == expected
    for name in expected:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2/2" in result.stdout  # the progress bar
