"""keras_vit.explain.patch_tsne (the TNT paper's t-SNE of patch features): the embedding's layout, the diversity
number against SciPy's pairwise cosine distances of the patch tokens read straight off the block, and bad input."""

import sys

import keras
import numpy as np
import pytest
from scipy.spatial.distance import pdist

import keras_vit
from keras_vit.explain.patch_tsne import cosine_diversity
from keras_vit.spec import thaw

TINY_VIT = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                num_classes=3)


def tiny(name, **overrides):
    return keras_vit.create(name, **{**thaw(keras_vit.get_spec(name).tiny), **overrides})


def images(batch, size=32, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")


def patch_tokens(model, pictures, block):
    """The block's output read with a plain Keras model, class token (row 0 in these models) dropped."""
    output = model.get_layer(model.layout.blocks[block]).output
    output = output[-1] if isinstance(output, (list, tuple)) else output  # TNT's block gives (words, tokens)
    tokens = np.asarray(keras.Model(model.input, output)(pictures))
    return tokens[:, 1:].reshape(-1, tokens.shape[-1])


def test_cosine_diversity_by_hand():
    assert cosine_diversity(np.array([[1.0, 0.0], [0.0, 2.0]])) == pytest.approx(1.0)  # orthogonal
    assert cosine_diversity(np.array([[1.0, 1.0], [3.0, 3.0], [2.0, 2.0]])) == pytest.approx(0.0)  # one direction
    # pairs (a, b) 1 - 0, (a, c) 1 - 1/sqrt(2), (b, c) 1 - 1/sqrt(2)
    want = (1 + 2 * (1 - 2 ** -0.5)) / 3
    assert cosine_diversity(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])) == pytest.approx(want)


def test_embedding_of_two_models_and_its_diversity():
    vit, tnt = keras_vit.create("vit_ti16", **TINY_VIT), tiny("tnt_s16")
    assert tnt.layout.num_prefix_tokens == vit.layout.num_prefix_tokens == 1 and tnt.layout.grid_size == (4, 4)
    pictures = images(3)
    embedding = keras_vit.explain.patch_tsne([vit, tnt], pictures, block_index=0, perplexity=5)
    assert embedding.points.shape == (2 * 3 * 16, 2) and np.isfinite(embedding.points).all()
    np.testing.assert_array_equal(embedding.model, np.repeat([0, 1], 48))
    np.testing.assert_array_equal(embedding.image, np.tile(np.repeat([0, 1, 2], 16), 2))
    want = [pdist(patch_tokens(model, pictures, 0), "cosine").mean() for model in (vit, tnt)]
    np.testing.assert_allclose(embedding.diversity, want, rtol=1e-5)
    figure = keras_vit.explain.plot_patch_tsne(embedding, ["vit", "tnt"], labels=[7, 1, 7])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["1", "7"]
    assert f"vit {want[0]:.3f}, tnt {want[1]:.3f}" in figure.axes[0].get_title()


def test_bad_input_is_a_clear_error(monkeypatch):
    vit = keras_vit.create("vit_ti16", **TINY_VIT)
    with pytest.raises(ValueError, match="model 'bit_r50x1' has no patch tokens.*ViT-family"):
        keras_vit.explain.patch_tsne(tiny("bit_r50x1"), images(4))
    with pytest.raises(ValueError, match="perplexity 30 needs more points.*1 image.*give 16: pass more images"):
        keras_vit.explain.patch_tsne(vit, images(1))
    with pytest.raises(ValueError, match="Block index 2 is out of range: model 'vit_ti16' has 2 blocks"):
        keras_vit.explain.patch_tsne(vit, images(4), block_index=2)
    with pytest.raises(ValueError, match=r"one width.*widths \[32, 48\]"):
        keras_vit.explain.patch_tsne([vit, keras_vit.create("vit_ti16", **{**TINY_VIT, "hidden_dim": 48})], images(4))
    with pytest.raises(ValueError, match=r"one array per model \(1\); received a list of 3"):
        keras_vit.explain.patch_tsne(vit, list(images(3)))
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, 32, 32, 3\)"):
        keras_vit.explain.patch_tsne(vit, images(4, size=28))
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # as if scikit-learn were not installed
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        keras_vit.explain.patch_tsne(vit, images(4), perplexity=5)
