"""A zoo model's own `.keras` file (model.save, `keras-vit train`'s model.keras and checkpoints/epoch_NNN.keras) is a
weights source like the published formats: rebuilt from its stored config, position tables resampled, head replaced,
loaded strictly; damaged and foreign `.keras` files give one clear error."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.testing import randomize_weights
from keras_vit.weights import CheckpointError
from tests.test_cli import keras_vit_cli

ARCHITECTURE = dict(patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64)
IMAGES = np.random.default_rng(5).normal(size=(2, 32, 32, 3)).astype("float32")
HEAD = {"head/classifier/kernel", "head/classifier/bias"}
TABLE = "position_embedding/embeddings"


def saved_model(tmp_path, trained=False):
    """A tiny ViT at image_size 32 with 10 classes and random weights, saved as run/model.keras; trained=True
    compiles and fits one step first, so that the file also holds an optimizer's state (as training writes it)."""
    model = randomize_weights(keras_vit.create("vit_ti16", image_size=32, num_classes=10, **ARCHITECTURE))
    if trained:
        model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy",
                      jit_compile=False)
        model.fit(IMAGES, np.array([1, 2]), epochs=1, batch_size=2, verbose=0)
    path = tmp_path / "run" / "model.keras"
    path.parent.mkdir()
    model.save(path)
    return model, path


def values(model):
    return {v.path: np.asarray(v) for v in model.weights}


def test_fine_tune_from_a_keras_file_at_a_new_size_and_classes(tmp_path):
    source, path = saved_model(tmp_path, trained=True)
    before = values(source)
    # The architecture comes from the file; the new input size and classifier from the arguments.
    model = keras_vit.create("vit_ti16", weights=str(path), image_size=48, num_classes=3)
    config = model.get_config()
    assert {k: config[k] for k in ARCHITECTURE} == {k: source.get_config()[k] for k in ARCHITECTURE}
    assert config["hidden_dim"] == 32 and model.output_shape == (None, 3)
    report = model.weights_report
    assert (report.format, report.layout) == ("keras", "keras_vit")
    assert report.resampled == [TABLE] and set(report.dropped) == HEAD
    assert f"Resampled {TABLE} from (1, 17, 32) to (1, 37, 32)" in str(report)
    assert "classifier (10 classes) was dropped" in str(report)

    after = values(model)
    table, old = after[TABLE], before[TABLE]
    np.testing.assert_array_equal(table[0, 0], old[0, 0])  # the class token's row as it was
    grid, old_grid = table[0, 1:].reshape(6, 6, 32), old[0, 1:].reshape(4, 4, 32)
    for r, c in ((0, 0), (0, 3), (3, 0), (3, 3)):  # align-corners bilinear keeps the corners
        np.testing.assert_allclose(grid[r * 5 // 3, c * 5 // 3], old_grid[r, c], rtol=1e-6, atol=1e-6)
    assert not np.allclose(grid[1, 1], old_grid[1, 1])  # the inside is interpolated, not copied
    np.testing.assert_array_equal(after["head/classifier/kernel"], np.zeros((32, 3)))  # a new zero head
    assert set(after) == set(before)
    for name in set(before) - HEAD - {TABLE}:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert model(np.zeros((1, 48, 48, 3), "float32")).shape == (1, 3)

    # The same architecture given as arguments (as a recipe would) gives the same model.
    again = keras_vit.create("vit_ti16", weights=path, image_size=48, num_classes=3, **ARCHITECTURE)
    for name, value in values(again).items():
        np.testing.assert_array_equal(value, after[name], err_msg=name)


def test_a_keras_file_rebuilds_its_own_model_and_loads_into_a_built_one(tmp_path):
    source, path = saved_model(tmp_path)
    expected = np.asarray(source(IMAGES))
    rebuilt = keras_vit.create("vit_ti16", weights=path)  # size, classes and architecture from the file
    np.testing.assert_allclose(np.asarray(rebuilt(IMAGES)), expected, rtol=1e-6, atol=1e-6)
    twin = keras_vit.create("vit_ti16", image_size=32, num_classes=10, **ARCHITECTURE)
    report = keras_vit.weights.load(twin, path)
    assert report.num_assigned == len(twin.weights) and not report.dropped and not report.resampled
    np.testing.assert_allclose(np.asarray(twin(IMAGES)), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(CheckpointError, match=r"does not fit model .*nothing was loaded"):
        keras_vit.create("vit_ti16", weights=path, hidden_dim=48)  # another architecture: the strict report


@pytest.mark.parametrize("name", ["cut.keras", "model.keras.part"])
def test_a_truncated_keras_file_says_so(tmp_path, name):
    _, path = saved_model(tmp_path)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 100):  # inside the weights; inside the zip's directory
        cut = tmp_path / name
        cut.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match=r"truncated or damaged \.keras model file") as info:
            keras_vit.weights.read_checkpoint(cut)
        message = str(info.value)
        assert str(cut) in message and "save the model again" in message
        assert not message.startswith("File not found")


def test_a_plain_keras_model_file_is_refused_with_the_reason(tmp_path):
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")], name="plain")
    path = tmp_path / "plain.keras"
    plain.save(path)
    with pytest.raises(CheckpointError, match=r"holds a Keras model of class Sequential \('plain'\), not a keras_vit "
                                              r"zoo model") as info:
        keras_vit.create("vit_ti16", weights=path)
    assert "keras.saving.load_model" in str(info.value)


def test_convert_command_reads_a_keras_file(tmp_path):
    source, path = saved_model(tmp_path)
    out = tmp_path / "model.weights.h5"
    result = keras_vit_cli("convert", str(path), str(out), "--model", "vit_ti16")
    assert result.returncode == 0, result.stderr
    assert f"Loaded {len(source.weights)} variables from {path} (keras_vit, keras)." in result.stdout
    assert f"wrote {out}" in result.stdout
    twin = keras_vit.create("vit_ti16", image_size=32, num_classes=10, **ARCHITECTURE)
    twin.load_weights(out)  # an ordinary Keras weights file
    np.testing.assert_allclose(np.asarray(twin(IMAGES)), np.asarray(source(IMAGES)), rtol=1e-6, atol=1e-6)



class FirstWeights(keras.callbacks.Callback):
    """Keeps the model's weights as training begins (after a checkpoint was loaded into it)."""

    def on_train_begin(self, logs=None):
        self.values = values(self.model)


@pytest.mark.slow  # two training runs; .keras loading itself is checked by the model.save tests above
def test_training_outputs_are_weights_sources(tmp_path):
    quick = dict(epochs=1, steps_per_epoch=2, eval_steps=1, batch_size=8, tensorboard=False, verbose=0,
                 jit_compile=False)
    tiny = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32}
    summary = keras_vit.train("mnist_vit", output_dir=str(tmp_path / "run"), model=tiny, **quick)
    trained = values(summary.model)
    saved = tmp_path / "run" / "model.keras"
    for path in (saved, tmp_path / "run" / "checkpoints" / "epoch_001.keras"):
        model = keras_vit.create("vit_ti16", weights=path, num_classes=3)
        assert set(model.weights_report.dropped) == HEAD, path
        for name, value in values(model).items():
            if name not in HEAD:
                np.testing.assert_array_equal(value, trained[name], err_msg=f"{path}: {name}")
    # keras-vit train --weights (the recipe's model.weights): fine-tuning starts from the saved model
    first = FirstWeights()
    keras_vit.train("mnist_vit", output_dir=str(tmp_path / "tuned"), model=dict(tiny, weights=str(saved)),
                    callbacks=[first], **quick)
    assert set(first.values) == set(trained)
    for name, value in first.values.items():
        np.testing.assert_array_equal(value, trained[name], err_msg=name)
