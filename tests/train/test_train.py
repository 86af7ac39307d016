"""keras_vit.train end to end on the offline digits with a tiny model: files, summary, resume, NaN, bad input."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.testing import randomize_weights
from keras_vit.train import RecipeError, StrategyError, TrainingDiverged
from keras_vit.train.recipe import NOT_HYPERPARAMETERS

TINY = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32}
QUICK = {"steps_per_epoch": 3, "eval_steps": 2, "batch_size": 16, "tensorboard": False, "verbose": 0,
         "jit_compile": False, "model": TINY}


def quick_train(output_dir, **overrides):
    return keras_vit.train("mnist_vit", **{**QUICK, "output_dir": str(output_dir), **overrides})


def test_a_short_run_writes_checkpoints_model_and_summary(tmp_path):
    summary = quick_train(tmp_path, epochs=2, tensorboard=True)
    assert summary["optimizer_steps"] == 2 * 3
    assert summary["global_batch_size"] == 16 and summary["replicas"] == 1
    assert 0.0 <= summary["eval_accuracy"] <= 1.0 and summary["images_per_second"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(dict(summary)))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch_001.keras", "epoch_002.keras"]
    assert not (tmp_path / "backup").exists()  # a finished run removes its backup
    assert any((tmp_path / "logs" / "train").iterdir())  # TensorBoard events
    records = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2]
    # the saved model is the trained model
    reloaded = keras.saving.load_model(summary["model_path"])
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), summary.model.predict(images, verbose=0),
                               atol=1e-6)
    assert np.abs(summary.model.get_layer("head").get_weights()[0]).max() > 0  # the zero head was trained


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Interrupt()


def assert_same_state(model, expected):
    for got, want in zip(model.variables + model.optimizer.variables,
                         expected.variables + expected.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=got.path)


def test_an_interrupted_run_resumes_from_the_backup_and_ends_as_an_uninterrupted_one(tmp_path):
    # dropout and drop path (seed states), flips and MixUp (seeded by position): all must continue where they stopped
    kwargs = {"epochs": 3, "horizontal_flip": True, "mixup_alpha": 0.5, "label_smoothing": 0.1,
              "model": {**TINY, "drop_path_rate": 0.1, "dropout_rate": 0.1}}
    uninterrupted = quick_train(tmp_path / "whole", **kwargs)
    with pytest.raises(Interrupt):
        quick_train(tmp_path / "run", **kwargs, callbacks=[InterruptAt(epoch=1, batch=1)])
    backup = json.loads((tmp_path / "run" / "backup" / "backup.json").read_text())
    assert backup["epochs_done"] == 1  # epoch 1 was backed up, epoch 2 was cut short
    summary = quick_train(tmp_path / "run", **kwargs, verbose=2, keep_checkpoints=1)  # watching may change
    assert summary["resumed_from_epoch"] == 2
    assert summary["optimizer_steps"] == uninterrupted["optimizer_steps"] == 3 * 3
    assert summary["eval_loss"] == uninterrupted["eval_loss"]
    assert_same_state(summary.model, uninterrupted.model)  # bit for bit: weights, optimizer slots, seed states
    assert not (tmp_path / "run" / "backup").exists()


@pytest.mark.slow  # its SIGKILL twin in test_resume_after_kill.py checks the refusal too
def test_a_changed_recipe_does_not_resume_an_unfinished_run_unless_started_over(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        quick_train(run, epochs=2, callbacks=[InterruptAt(epoch=1, batch=0)])
    saved = (run / "recipe.json").read_bytes()
    with pytest.raises(keras_vit.train.ResumeError,
                       match=r"optimizer\.learning_rate: 0\.002 in that run, 0\.001 now; run\.epochs: 2 in that run, "
                             r"3 now\..*start_over=True"):
        quick_train(run, epochs=3, learning_rate=1e-3)
    assert (run / "recipe.json").read_bytes() == saved
    old = sorted(p.relative_to(run) for p in run.rglob("*"))
    summary = quick_train(run, epochs=1, learning_rate=1e-3, start_over=True)
    assert summary["resumed_from_epoch"] is None and summary["optimizer_steps"] == 3
    moved = tmp_path / summary["previous_run"]
    assert moved.parent == tmp_path and moved.name.startswith("run.replaced_")
    assert sorted(p.relative_to(moved) for p in moved.rglob("*")) == old  # moved aside whole, nothing deleted
    assert json.loads((run / "recipe.json").read_text())["optimizer"]["learning_rate"] == 1e-3


def test_a_nan_learning_rate_stops_with_a_clear_error_and_keeps_the_good_checkpoint(tmp_path):
    good = quick_train(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="holds a finished run"):
        quick_train(tmp_path, epochs=2)  # never replaces a finished run's files unless asked
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite.*epoch_001\.keras"):
        quick_train(tmp_path, epochs=2, learning_rate=math.nan, overwrite=True)
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["epoch_001.keras"]
    model = keras.saving.load_model(tmp_path / "checkpoints" / "epoch_001.keras")
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    for loaded, trained in zip(weights, good.model.get_weights()):
        np.testing.assert_array_equal(loaded, trained)


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"source": "imagenet"}, ValueError, "Unknown data source 'imagenet'"),
        ({"source": "tfds:cifar1O"}, ValueError, "Did you mean 'cifar10'"),
        ({"source": "folder:/no/such/folder"}, ValueError, "does not exist"),
        ({"strategy": "mirorred"}, RecipeError, "Did you mean 'mirrored'"),
        ({"batch_size": 0}, RecipeError, r"run.batch_size \(global batch.*\): must be a positive integer, or null; received 0"),
        ({"learning_rate": "fast"}, RecipeError, r"optimizer.learning_rate \(.*\): must be a number >= 0; received 'fast'"),
        ({"model": {"name": "vit_b99"}}, RecipeError, "Unknown model 'vit_b99'"),
        ({"epoch": 3}, RecipeError, "Did you mean 'epochs'"),
        ({"per_replica_batch_size": 8}, RecipeError, "exactly one of run.batch_size"),
        ({"model.lora": {"rank": 0}}, RecipeError, r"model.lora \(.*\): must be a mapping with rank \(an integer > 0\)"),
        ({"model.teacher": "no_teacher.keras"}, ValueError, "model.teacher 'no_teacher.keras' is not a file"),
    ],
)
def test_bad_input_is_reported_before_training(tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        quick_train(tmp_path / "run", epochs=1, **overrides)
    assert not (tmp_path / "run").exists()


def test_an_empty_class_folder_is_reported_before_training(tmp_path):
    (tmp_path / "images" / "cats").mkdir(parents=True)
    with pytest.raises(ValueError, match="cats holds no images"):
        quick_train(tmp_path / "run", epochs=1, source=f"folder:{tmp_path / 'images'}")
    assert not (tmp_path / "run").exists()


def test_a_corrupt_image_stops_the_run_before_training_unless_skipped(tmp_path):
    # Issue 27: one PNG cut to 60 bytes stopped training partway through epoch 1 and left a run folder.
    for name in ("cats", "dogs"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(4):
            pixels = np.full((30, 30, 3), 40 * i, np.uint8)
            (tmp_path / "images" / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    broken = tmp_path / "images" / "dogs" / "2.png"
    broken.write_bytes(broken.read_bytes()[:60])
    options = dict(epochs=1, source=f"folder:{tmp_path / 'images'}", eval_split=None, batch_size=2)
    with pytest.raises(ValueError, match=f"1 of 8 train files cannot be read as images:\n  {broken} \\("):
        quick_train(tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()
    with pytest.warns(UserWarning, match="1 of 8 train files cannot be read"):
        summary = quick_train(tmp_path / "run", unreadable_images="skip", **options)
    assert summary["optimizer_steps"] == 3


def test_a_batch_that_does_not_divide_over_replicas_is_an_error():
    class ThreeReplicas:
        num_replicas_in_sync = 3

    with pytest.raises(StrategyError, match="does not divide evenly over the 3 replicas.*multiple of 3"):
        keras_vit.train.check_global_batch(64, ThreeReplicas())
    assert keras_vit.train.check_global_batch(63, ThreeReplicas()) == 21
    assert keras_vit.train.global_batch_size(8, ThreeReplicas()) == 24


def test_tensorflow_datasets_through_train_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        summary = quick_train(tmp_path, epochs=1, source="tfds:cifar10", batch_size=8)
    assert summary["optimizer_steps"] == 3
    # the model took the data's channels and classes; the pipeline resized 32x32 images to the model's 28x28
    assert summary.model.input_shape == (None, 28, 28, 3) and summary.model.output_shape == (None, 10)


def test_fine_tuning_starts_from_a_checkpoint_and_drops_a_head_of_another_width(tmp_path):
    recipe = keras_vit.train.load_recipe("mnist_vit", model=TINY)
    hyperparameters = {k: v for k, v in recipe.model.items() if k not in NOT_HYPERPARAMETERS}
    source = keras_vit.create(recipe.model["name"], **hyperparameters, num_channels=1, num_classes=5)
    randomize_weights(source, seed=3)
    checkpoint = keras_vit.weights.write_weights_file(source, tmp_path / "pretrained.weights.h5")
    # learning rate 0: after one epoch the model still holds exactly what it loaded
    summary = quick_train(tmp_path / "run", epochs=1, learning_rate=0.0, model={**TINY, "weights": str(checkpoint)})
    trained = summary.model
    for name in ("patch_embed", "block_0", "encoder_norm"):
        for got, expected in zip(trained.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, expected)
    head_kernel = trained.get_layer("head").get_weights()[0]
    assert head_kernel.shape == (16, 10) and not head_kernel.any()  # the data's 10 classes, a fresh zero head
    with pytest.raises(ValueError, match="model.weights 'missing.npz' is not a file"):
        quick_train(tmp_path / "run2", epochs=1, model={**TINY, "weights": "missing.npz"})
