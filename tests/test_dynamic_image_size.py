"""Models made with dynamic_image_size=True take every image size their patches tile. At their own size they give
the fixed-size model's outputs exactly; at another they give the outputs of a fixed-size model built for that size
whose position tables were resampled independently (tests/resampling_reference.py), for every position encoding
and TNT. They compile under XLA, train on batches of mixed sizes, round-trip through .keras, and reject a size the
patches do not tile with a message naming it."""

import importlib.util
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.layers._resampling import interpolation_matrix
from keras_vit.testing import randomize_weights
from tests.resampling_reference import REFERENCE, resample_table

TINY = {"image_size": 32, "patch_size": 8, "hidden_dim": 32, "num_layers": 2, "num_heads": 2,
        "intermediate_dim": 64, "num_classes": 5}
NATIVE, NEW = (32, 32), (48, 24)  # grids 4x4 and 6x3
VARIANTS = {
    "learned_1d": {},
    "learned_1d_bicubic": {"position_interpolation": "bicubic"},
    "learned_1d_every_layer": {"position_placement": "every_layer"},
    "learned_2d": {"position_encoding": "learned_2d", "position_interpolation": "bicubic"},
    "sincos_2d": {"position_encoding": "sincos_2d"},
    "relative": {"position_encoding": "relative"},
    # two register tokens after the class token, and a table over the patches only (timm's no_embed_class)
    "registers": {"num_register_tokens": 2, "use_prefix_position": False, "position_interpolation": "bicubic"},
}


def images(height, width, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, height, width, 3)).astype("float32")


def vit(**overrides):
    return keras_vit.create("vit_ti16", **{**TINY, **overrides})


def randomize(model, seed=0):
    return randomize_weights(model, scale=0.3, seed=seed)  # a fresh zero head would make every output equal


def fixed_twin(dynamic, size, overrides, family="vit_ti16", base=TINY):
    """A fixed-size model for `size` with the dynamic model's weights, its position tables resampled (or, for
    relative positions, re-indexed) by the NumPy reference, not by keras_vit."""
    fixed = keras_vit.create(family, **{**base, **overrides, "image_size": size})
    interpolation = dynamic.get_config()["position_interpolation"]
    source = {v.path: np.asarray(v) for v in dynamic.weights}
    prefixes = {t.layer: t.num_prefix_tokens for t in dynamic.layout.position_tables}
    old_grid, new_grid = dynamic.layout.grid_size, fixed.layout.grid_size
    for variable in fixed.weights:
        value = source[variable.path]
        layer, name = variable.path.rsplit("/", 1)
        if tuple(value.shape) == tuple(variable.shape):
            pass
        elif name in ("row_embeddings", "column_embeddings"):
            axis = 0 if name == "row_embeddings" else 1
            value = REFERENCE[interpolation](old_grid[axis], new_grid[axis]) @ value
        elif layer.startswith("relative_position"):  # offsets beyond the trained range take the farthest one
            old, new = (value.shape[0] + 1) // 2, (variable.shape[0] + 1) // 2
            value = value[np.clip(np.arange(2 * new - 1) - (new - 1), 1 - old, old - 1) + old - 1]
        else:
            value = resample_table(value[0], old_grid, new_grid, prefixes[layer], interpolation)[None]
        variable.assign(value)
    return fixed


# ---- the interpolation matrices -------------------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("old,new", [(4, 6), (14, 24), (6, 4), (14, 7), (5, 3), (3, 8), (1, 3), (4, 1), (7, 7)])
def test_interpolation_matrices_match_the_reference(old, new, interpolation):
    got = keras.ops.convert_to_numpy(interpolation_matrix(old, new, interpolation, "float64"))
    np.testing.assert_allclose(got, REFERENCE[interpolation](old, new), rtol=0, atol=1e-12)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_the_native_size_is_exactly_the_identity_also_from_a_graph_size(interpolation):
    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)], jit_compile=True)
    def matrix(new):
        return interpolation_matrix(14, new, interpolation)

    np.testing.assert_array_equal(np.asarray(matrix(tf.constant(14))), np.eye(14, dtype="float32"))
    np.testing.assert_allclose(np.asarray(matrix(tf.constant(24))), REFERENCE[interpolation](14, 24), atol=1e-6)


# ---- ViT: every position encoding ------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=pytest.mark.slow) if v == "learned_1d_every_layer" else v for v in sorted(VARIANTS)
])
def test_dynamic_vit_equals_fixed_models_at_the_native_and_a_new_size(variant):
    dynamic = randomize(vit(**VARIANTS[variant], dynamic_image_size=True))
    assert dynamic.inputs[0].shape[1:3] == (None, None) and dynamic.layout.dynamic_image_size
    fixed = keras_vit.create("vit_ti16", **{**TINY, **VARIANTS[variant]})
    fixed.set_weights(dynamic.get_weights())
    x = images(*NATIVE)
    np.testing.assert_array_equal(np.asarray(dynamic(x)), np.asarray(fixed(x)))  # bit for bit

    x = images(*NEW, seed=1)
    expected = np.asarray(fixed_twin(dynamic, NEW, VARIANTS[variant])(x))
    np.testing.assert_allclose(np.asarray(dynamic(x)), expected, rtol=1e-4, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # the check compares real outputs, not zeros


def test_tnt_resamples_its_patch_table_and_keeps_its_pixel_table():
    tiny = keras_vit.get_spec("tnt_s16").tiny
    dynamic = randomize(keras_vit.create("tnt_s16", **tiny, position_interpolation="bicubic", dynamic_image_size=True))
    fixed = keras_vit.create("tnt_s16", **tiny, position_interpolation="bicubic")
    fixed.set_weights(dynamic.get_weights())
    x = images(32, 32)
    np.testing.assert_array_equal(np.asarray(dynamic(x)), np.asarray(fixed(x)))
    x = images(*NEW, seed=1)
    twin = fixed_twin(dynamic, NEW, {"position_interpolation": "bicubic"}, family="tnt_s16", base=tiny)
    assert twin.get_layer("pixel_position").embeddings.shape == dynamic.get_layer("pixel_position").embeddings.shape
    np.testing.assert_allclose(np.asarray(dynamic(x)), np.asarray(twin(x)), rtol=1e-4, atol=1e-5)


def test_hybrid_sizes_are_multiples_of_patch_times_stem_stride_and_bit_takes_any_size():
    tiny = keras_vit.get_spec("vit_r_ti16").tiny  # patch 2 on the stride-4 stem: multiples of 8
    dynamic = randomize(keras_vit.create("vit_r_ti16", **tiny, dynamic_image_size=True))
    fixed = keras_vit.create("vit_r_ti16", **tiny)
    fixed.set_weights(dynamic.get_weights())
    x = images(32, 32)
    np.testing.assert_array_equal(np.asarray(dynamic(x)), np.asarray(fixed(x)))
    assert dynamic(images(40, 24)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"Image size 36x32 \(height x width\) is not a multiple of the patch size 8x8"):
        dynamic(images(36, 32))
    bit = keras_vit.create("bit_r50x1", **keras_vit.get_spec("bit_r50x1").tiny, dynamic_image_size=True)
    assert bit(images(40, 56)).shape == (2, 10)


def test_a_size_the_patches_do_not_tile_is_refused_eagerly_and_in_a_graph():
    model = vit(dynamic_image_size=True)
    with pytest.raises(ValueError, match=r"Image size 33x32 \(height x width\) is not a multiple of the patch size 8x8"):
        model(images(33, 32))
    graph = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((None, None, None, 3))])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"multiples of the patch size 8x8[\s\S]*\[40 36\]"):
        graph(images(40, 36))
    assert graph(images(40, 24)).shape == (2, 5)
    fixed = vit()  # a fixed-size model keeps its own error
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, 32, 32, 3\)"):
        fixed(images(48, 24))


def test_empty_and_huge_images_and_wrong_channels_are_refused_with_the_reason():
    # The user's inputs (issue 27): 0x0 and 0-high images failed deep in TensorFlow ("Incompatible shapes"),
    # 4096x4096 ran out of memory after 12 s, and 1 channel was told to "Resize the images to NonexNone".
    model = vit(dynamic_image_size=True)
    for height, width in ((0, 0), (0, 32)):
        with pytest.raises(ValueError, match=rf"Image size {height}x{width} \(height x width\) is not a multiple of the "
                                             r"patch size 8x8.*\(at least one patch each way\)"):
            model(np.zeros((1, height, width, 3), "float32"))
    graph = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((None, None, None, 3))])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"positive multiples of the patch size 8x8[\s\S]*\[0 32\]"):
        graph(np.zeros((1, 0, 32, 3), "float32"))
    # 4096 / 8 = 512 patches each way, plus the class token: 262,145 tokens; 2 heads of float32 weights each
    tokens = 512 * 512 + 1
    gib = 2 * tokens**2 * 4 / 2**30
    with pytest.raises(ValueError, match=rf"Attention over 262,145 tokens needs {gib:,.0f} GiB for its weights alone "
                                         r"\(batch 1 x 2 heads x 262,145\^2 x 4 bytes\), more than this machine's"):
        model(np.zeros((1, 4096, 4096, 3), "float32"))
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, None, None, 3\); received an input of shape "
                                         r"\(1, 32, 32, 1\)\. Pass images of shape \(batch, height, width, 3\)\.") as error:
        model(np.zeros((1, 32, 32, 1), "float32"))
    assert "None" not in str(error.value).split("Pass")[1].split("\n")[0]


# ---- XLA, fit, .keras ------------------------------------------------------------------------------------------

def test_xla_compiles_the_size_free_graph_once_per_size_with_the_eager_outputs():
    model = randomize(vit(position_interpolation="bicubic", dynamic_image_size=True))
    # traced once with unknown sizes (the grid, the matrices and the tables computed in the graph), compiled per size
    compiled = tf.function(lambda x: model(x), jit_compile=True, input_signature=[tf.TensorSpec((None, None, None, 3))])
    for size in (NATIVE, NEW):
        x = images(*size)
        np.testing.assert_allclose(np.asarray(compiled(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fit_trains_on_batches_of_mixed_sizes(jit_compile):
    model = vit(dynamic_image_size=True)
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    sizes = [NATIVE, NEW, (24, 40), NEW]

    def batches():
        for index, size in enumerate(sizes):
            yield images(*size, batch=4, seed=index), np.arange(4, dtype="int32") % 5

    dataset = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, None, None, 3), tf.float32), tf.TensorSpec((None,), tf.int32)))
    table = np.array(model.get_layer("position_embedding").embeddings)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert model.jit_compile == jit_compile and len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
    assert not np.array_equal(table, np.asarray(model.get_layer("position_embedding").embeddings))


def test_keras_file_round_trip_keeps_the_dynamic_model(tmp_path):
    model = randomize(vit(position_encoding="learned_2d", position_interpolation="bicubic", dynamic_image_size=True))
    path = str(tmp_path / "dynamic.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    config = loaded.get_config()
    assert config["dynamic_image_size"] is True and config["position_interpolation"] == "bicubic"
    for size in (NATIVE, (16, 40)):
        x = images(*size)
        np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_spec_rejects_unknown_interpolation():
    with pytest.raises(ValueError, match=r"position_interpolation.*'bilinear', 'bicubic'"):
        vit(position_interpolation="nearest")


# ---- parity with timm (needs torch and timm; they run in their own process) ------------------------------------

@pytest.mark.parity
@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="needs torch and timm")
def test_a_converted_timm_checkpoint_gives_timms_outputs_at_every_size(tmp_path):
    worker = [sys.executable, "tests/dynamic_size_worker.py", str(tmp_path)]
    subprocess.run(worker, check=True, capture_output=True, timeout=600)
    reference = np.load(tmp_path / "reference.npz")
    for index in range(5):  # torch's antialiased bicubic, what timm's resample_abs_pos_embed calls
        grid, resized = reference[f"grid_{index}"][0], reference[f"resized_{index}"][0]
        table = grid.reshape(grid.shape[0], -1).T  # (rows * cols, channels)
        got = keras_vit.weights.resample_position_table(table, resized.shape[1:], 0, grid.shape[1:], "bicubic")
        # torch computes the filter's centres and weights in float32 (keras_vit's NumPy path in float64): a
        # centre near 14 is off by ~1e-6, and so are the values
        np.testing.assert_allclose(got, resized.reshape(resized.shape[0], -1).T, rtol=1e-5, atol=1e-5)
    model = keras_vit.create("vit_ti16", weights=str(tmp_path / "vit.safetensors"), dynamic_image_size=True,
                             **{k: TINY[k] for k in ("patch_size", "hidden_dim", "num_layers", "num_heads",
                                                     "intermediate_dim")})
    assert model.get_config()["position_interpolation"] == "bicubic"  # the checkpoint's source's
    for size in ((32, 32), (48, 24), (16, 40), (64, 64)):
        expected = reference[f"logits_{size[0]}x{size[1]}"]
        got = np.asarray(model(reference[f"images_{size[0]}x{size[1]}"]))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
