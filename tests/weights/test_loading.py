"""Strict loading: bad files and misfits raise one clear error before anything changes; heads are dropped with a
message; position tables are resampled; keras_vit's own .weights.h5 files round-trip."""

import hashlib
import logging

import numpy as np
import pytest

import keras_vit
from keras_vit.testing import randomize_weights
from keras_vit.weights import CheckpointError
from tests.weights import layouts
from tests.weights.test_converters import TINY_VIT, write_npz, write_safetensors


def tiny_timm_vit(tmp_path, classes=10, seed=0, hidden=32, name="vit.safetensors"):
    t = layouts.fill(layouts.timm_vit(hidden, 2, 2, 2 * hidden, patch=8, grid=4, classes=classes), seed=seed)
    return write_safetensors(tmp_path / name, t), t


def snapshot(model):
    return {v.path: np.array(v) for v in model.weights}


def assert_unchanged(model, before):
    for path, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[path], err_msg=path)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_wrong_shapes_are_listed_with_both_shapes_and_nothing_changes(tmp_path):
    path, _ = tiny_timm_vit(tmp_path, hidden=48)  # a wider ViT than the model
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    before = snapshot(model)
    with pytest.raises(CheckpointError) as info:
        keras_vit.weights.load(model, path)
    message = str(info.value)
    assert str(path) in message and "wrong shape" in message and "nothing was loaded" in message
    assert "block_0/mlp/fc1/kernel: model (32, 64), checkpoint blocks.0.mlp.fc1.weight (96, 48)" in message
    assert_unchanged(model, before)


def test_missing_and_unexpected_keys_in_one_error(tmp_path):
    _, t = tiny_timm_vit(tmp_path)
    del t["blocks.1.mlp.fc2.bias"]
    t["blocks.0.ls1.gamma"] = np.ones(32, "float32")
    path = write_safetensors(tmp_path / "edited.safetensors", t)
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    before = snapshot(model)
    with pytest.raises(CheckpointError) as info:
        keras_vit.weights.load(model, path)
    message = str(info.value)
    assert "1 missing" in message and "block_1/mlp/fc2/bias (32,) <- blocks.1.mlp.fc2.bias" in message
    assert "1 unexpected" in message and "blocks.0.ls1.gamma (32,)" in message
    assert_unchanged(model, before)


def test_deeper_checkpoint_reports_unexpected_blocks(tmp_path):
    t = layouts.fill(layouts.timm_vit(32, 3, 2, 64, patch=8, grid=4, classes=10))
    path = write_safetensors(tmp_path / "deep.safetensors", t)
    with pytest.raises(CheckpointError, match=r"12 unexpected:\n  blocks\.2\."):
        keras_vit.create("vit_ti16", weights=path, **TINY_VIT)


def test_checkpoint_of_another_family(tmp_path):
    t = layouts.fill(layouts.timm_tnt(32, 1, 8, 64, 32, patch_grid=4, word_grid=2, classes=10))
    path = write_safetensors(tmp_path / "tnt.safetensors", t)
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    with pytest.raises(CheckpointError, match=r"for the tnt family, but model 'vit_ti16' is of family 'vit'"):
        keras_vit.weights.load(model, path)
    with pytest.raises(CheckpointError, match="for the tnt family"):
        keras_vit.create("vit_ti16", weights=path, **TINY_VIT)


@pytest.mark.parametrize("suffix", ["safetensors", "npz"])
def test_truncated_files(tmp_path, suffix):
    if suffix == "npz":
        t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=8, grid=4, classes=10))
        path = write_npz(tmp_path / "full.npz", t)
    else:
        path, _ = tiny_timm_vit(tmp_path, name="full.safetensors")
    data = path.read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match="truncated") as info:
        keras_vit.weights.load(keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT), cut)
    assert str(cut) in str(info.value)


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("these are not weights, just a text file with a misleading name\n")
    with pytest.raises(CheckpointError, match=r"notes\.npz.*is not a checkpoint keras_vit can read"):
        keras_vit.weights.read_checkpoint(text)
    other = write_npz(tmp_path / "other.npz", {"mean": np.zeros(3), "std": np.ones(3)})
    with pytest.raises(CheckpointError, match=r"not a checkpoint of a layout keras_vit knows \(its keys begin mean, std\)"):
        keras_vit.create("vit_ti16", weights=other, **TINY_VIT)
    with pytest.raises(CheckpointError, match="does not exist"):
        keras_vit.weights.read_checkpoint(tmp_path / "missing.safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        keras_vit.weights.read_checkpoint(empty)


def test_loading_never_modifies_the_file(tmp_path):
    path, _ = tiny_timm_vit(tmp_path)
    digest, mtime = sha(path), path.stat().st_mtime_ns
    model = keras_vit.create("vit_ti16", weights=path, **TINY_VIT)
    keras_vit.weights.load(model, path)
    assert sha(path) == digest and path.stat().st_mtime_ns == mtime


def test_head_dropped_with_message_when_classes_differ(tmp_path, caplog):
    path, t = tiny_timm_vit(tmp_path, classes=10)
    with caplog.at_level(logging.WARNING, logger="keras_vit.weights"):
        model = keras_vit.create("vit_ti16", weights=path, num_classes=5, **TINY_VIT)
    assert "classifier (10 classes) was dropped" in caplog.text and "model has 5 classes" in caplog.text
    np.testing.assert_array_equal(np.asarray(model.get_layer("head").classifier.kernel), np.zeros((32, 5)))
    np.testing.assert_array_equal(np.asarray(model.get_layer("encoder_norm").gamma), t["norm.weight"])
    backbone = keras_vit.create("vit_ti16", weights=path, include_top=False, **TINY_VIT)
    assert backbone.output.shape == (None, 32)


def test_pre_logits_kept_or_dropped_as_the_checkpoint_requires(tmp_path):
    t = layouts.fill(layouts.flax_vit(32, 2, 2, 64, patch=8, grid=4, classes=10, representation=16))
    path = write_npz(tmp_path / "vit.npz", t)
    kept = keras_vit.create("vit_ti16", weights=path, **TINY_VIT)  # the checkpoint's own classifier: kept
    np.testing.assert_array_equal(np.asarray(kept.get_layer("head").pre_logits.kernel), t["pre_logits/kernel"])
    report_model = keras_vit.create("vit_ti16", num_classes=3, **TINY_VIT)  # fine-tuning: dropped
    report = keras_vit.weights.load(report_model, path)
    assert set(report.dropped) == {"head/kernel", "head/bias", "pre_logits/kernel", "pre_logits/bias"}
    assert any("pre-logits layer was dropped" in m for m in report.messages)
    no_pre_logits = write_npz(tmp_path / "plain.npz", {k: v for k, v in t.items() if not k.startswith(("pre_logits", "head"))})
    wants_one = keras_vit.create("vit_ti16", num_classes=3, representation_dim=16, **TINY_VIT)
    with pytest.raises(CheckpointError, match=r"head/pre_logits/kernel \(32, 16\) <- pre_logits/kernel"):
        keras_vit.weights.load(wants_one, no_pre_logits)


def test_fine_tune_at_a_larger_size_resamples_and_keeps_the_class_token_row(tmp_path):
    path, t = tiny_timm_vit(tmp_path)
    model = keras_vit.create("vit_ti16", weights=path, **dict(TINY_VIT, image_size=64), num_classes=7)
    table = np.asarray(model.get_layer("position_embedding").embeddings)
    assert table.shape == (1, 1 + 64, 32)
    np.testing.assert_array_equal(table[0, 0], t["pos_embed"][0, 0])
    grid = table[0, 1:].reshape(8, 8, 32)
    source = t["pos_embed"][0, 1:].reshape(4, 4, 32)
    for r, c in ((0, 0), (0, 3), (3, 0), (3, 3)):  # align-corners bilinear keeps the corners
        np.testing.assert_allclose(grid[r * 7 // 3, c * 7 // 3], source[r, c], rtol=1e-6, atol=1e-6)
    assert model(np.zeros((1, 64, 64, 3), "float32")).shape == (1, 7)


def test_image_size_follows_the_checkpoint_unless_given(tmp_path):
    t = layouts.fill(layouts.timm_vit(32, 2, 2, 64, patch=8, grid=6, classes=10))
    path = write_safetensors(tmp_path / "vit48.safetensors", t)
    spec = {k: v for k, v in TINY_VIT.items() if k != "image_size"}
    assert keras_vit.create("vit_ti16", weights=path, **spec).input_shape == (None, 48, 48, 3)


def test_tnt_patch_position_resampled(tmp_path):
    t = layouts.fill(layouts.timm_tnt(32, 1, 8, 64, 32, patch_grid=4, word_grid=2, classes=10))
    path = write_safetensors(tmp_path / "tnt.safetensors", t)
    model = keras_vit.create("tnt_s16", weights=path, image_size=48, patch_size=8, hidden_dim=32, num_layers=1,
                             num_heads=2, intermediate_dim=64, inner_dim=8, inner_num_heads=2,
                             inner_intermediate_dim=32, pixel_stride=4, pixel_kernel_size=7)
    table = np.asarray(model.get_layer("patch_position").embeddings)
    assert table.shape == (1, 37, 32)
    np.testing.assert_array_equal(table[0, 0], t["patch_pos"][0, 0])


def test_keras_vit_weights_file_round_trip(tmp_path):
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    randomize_weights(model)
    path = keras_vit.weights.write_weights_file(model, tmp_path / "tiny.weights.h5")
    twin = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    twin.load_weights(path)  # an ordinary Keras weights file
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(twin(images)), np.asarray(model(images)), rtol=1e-6, atol=1e-6)
    again = keras_vit.create("vit_ti16", weights=path)  # size, classes from the stored config
    np.testing.assert_allclose(np.asarray(again(images)), np.asarray(model(images)), rtol=1e-6, atol=1e-6)
    larger = keras_vit.create("vit_ti16", weights=path, image_size=64, num_classes=3)
    assert larger.get_layer("position_embedding").embeddings.shape == (1, 65, 32)


def test_learned_2d_tables_resampled(tmp_path):
    model = keras_vit.create("vit_ti16", num_classes=10, position_encoding="learned_2d", **TINY_VIT)
    randomize_weights(model)
    path = keras_vit.weights.write_weights_file(model, tmp_path / "two_d.weights.h5")
    larger = keras_vit.create("vit_ti16", weights=path, image_size=64)
    source, target = model.get_layer("position_embedding"), larger.get_layer("position_embedding")
    assert target.row_embeddings.shape == (8, 32) and target.column_embeddings.shape == (8, 32)
    np.testing.assert_array_equal(np.asarray(target.prefix_embeddings), np.asarray(source.prefix_embeddings))
    np.testing.assert_allclose(np.asarray(target.row_embeddings)[[0, -1]], np.asarray(source.row_embeddings)[[0, -1]],
                               rtol=1e-6, atol=1e-6)


def test_truncated_weights_file(tmp_path):
    model = keras_vit.create("vit_ti16", num_classes=10, **TINY_VIT)
    path = keras_vit.weights.write_weights_file(model, tmp_path / "tiny.weights.h5")
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(path.read_bytes()[:5000] if hasattr(path, "read_bytes") else open(path, "rb").read()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.weights\.h5"):
        keras_vit.weights.load(model, cut)


def test_head_and_pre_logits_are_found_through_the_layout(tmp_path):
    import dataclasses

    import keras

    class ProbedViT(keras.Model):  # a user's classifier on a zoo backbone, loaded as a ViT
        registered_name = "vit"

    path, t = tiny_timm_vit(tmp_path, classes=10)
    backbone = keras_vit.create("vit_ti16", num_classes=0, **TINY_VIT)
    model = ProbedViT(backbone.input, keras.layers.Dense(5, name="probe")(backbone.output))
    model.layout = dataclasses.replace(backbone.layout, head="probe", head_variables=("probe/kernel", "probe/bias"))
    probe = np.asarray(model.get_layer("probe").kernel)
    report = keras_vit.weights.load(model, path)  # the 10-class head is dropped, the 5-class probe kept
    assert set(report.dropped) == {"head.weight", "head.bias"} and "model has 5 classes" in str(report)
    np.testing.assert_array_equal(np.asarray(model.get_layer("probe").kernel), probe)
    np.testing.assert_array_equal(np.asarray(model.get_layer("encoder_norm").gamma), t["norm.weight"])
    plain = keras_vit.create("vit_ti16", num_classes=5, **TINY_VIT)
    plain.layout = dataclasses.replace(plain.layout, head_variables=())  # a layout that names no classifier
    with pytest.raises(CheckpointError, match=r"head/classifier/kernel: model \(32, 5\)"):
        keras_vit.weights.load(plain, path)
