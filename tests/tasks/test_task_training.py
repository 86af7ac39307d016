"""Task recipes through keras_vit.train: a data source names the data, the task model its loss, metrics and targets."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.tasks.data.digit_scenes import split_indices
from keras_vit.tasks.data_source import DigitScenesSource
from keras_vit.tasks.segmentation_metrics import evaluate_segmentation
from keras_vit.train import RecipeError, load_recipe

BACKBONE = {"name": "vit_ti16", "image_size": 32, "patch_size": 8, "hidden_dim": 16, "num_layers": 1, "num_heads": 2,
            "intermediate_dim": 32}
SOURCE = {"name": "digit_scenes", "num_train_scenes": 8, "num_eval_scenes": 6, "min_height": 8, "max_height": 14,
          "max_objects": 2}
RUN = {"epochs": 2, "batch_size": 4, "tensorboard": False, "verbose": 0, "jit_compile": False}


def tiny_recipe(model, tmp_path, **run):
    return {"name": "tiny_task", "model": model, "data": {"source": SOURCE},
            "optimizer": {"name": "adam", "learning_rate": 1e-3}, "run": {**RUN, "output_dir": str(tmp_path), **run}}


@pytest.mark.slow  # trains (about a minute on 2 idle cores)
def test_a_segmentation_recipe_trains_through_keras_vit_train(tmp_path):
    model = {"name": "seg_vit_ti16_digits", "backbone": BACKBONE, "hidden_dim": 8, "refine": "image_skip_refine"}
    summary = keras_vit.train(tiny_recipe(model, tmp_path))
    assert summary["optimizer_steps"] == 2 * (8 // 4)
    assert {"train_loss", "train_mean_iou", "eval_loss", "eval_mean_iou"} <= set(summary)
    assert json.loads((tmp_path / "summary.json").read_text())["eval_mean_iou"] == summary["eval_mean_iou"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch_001.keras", "epoch_002.keras"]
    # The Keras metric's mean IoU over the held-out stream equals the NumPy whole-set confusion matrix's.
    source = DigitScenesSource(**{k: v for k, v in SOURCE.items() if k != "name"})
    _, held_out = source.pipelines(summary.model, batch_size=4)
    assert evaluate_segmentation(summary.model, held_out)["mean_iou"] == pytest.approx(summary["eval_mean_iou"],
                                                                                      abs=1e-4)
    reloaded = keras.saving.load_model(summary["model_path"])
    images = next(iter(held_out))[0]
    np.testing.assert_allclose(reloaded(images), summary.model(images), atol=1e-5)


@pytest.mark.slow  # trains
def test_a_detr_recipe_trains_through_keras_vit_train_without_xla(tmp_path):
    model = {"name": "detr_vit_ti16_digits", "backbone": BACKBONE, "hidden_dim": 16, "num_queries": 4,
             "decoder": {"name": "detr_decoder", "num_layers": 2, "num_heads": 2, "intermediate_dim": 32}}
    summary = keras_vit.train(tiny_recipe(model, tmp_path, epochs=1, jit_compile="auto"))
    assert summary["optimizer_steps"] == 2 and np.isfinite(summary["train_loss"]) and np.isfinite(summary["eval_loss"])
    assert summary.model.jit_compile is False  # the matcher runs SciPy: the model's compile arguments say no XLA


def test_detr_targets_from_a_scene_example():
    detector = keras_vit.create(keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec())
    example = {"boxes": np.array([[0.1, 0.2, 0.5, 0.4], [0, 0, 0, 0]], "float32"), "labels": np.array([7, -1])}
    targets = detector.targets_from_example(example)
    # [ymin, xmin, ymax, xmax] = [0.1, 0.2, 0.5, 0.4] -> cx = 0.3, cy = 0.3, w = 0.2, h = 0.4
    np.testing.assert_allclose(targets["boxes"][0], [0.3, 0.3, 0.2, 0.4], atol=1e-6)
    np.testing.assert_array_equal(targets["labels"], [7, -1])


def test_the_training_stream_is_a_function_of_the_seed_and_resumes_at_a_batch():
    model = keras_vit.create(keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec())
    source = DigitScenesSource(**{k: v for k, v in SOURCE.items() if k != "name"}, seed=3, mean=0.5, std=0.5)
    first = [batch for batch, _ in zip(source.pipelines(model, batch_size=4)[0], range(5))]
    again = next(iter(source.pipelines(model, batch_size=4, start_batch=3)[0]))
    np.testing.assert_array_equal(again[0], first[3][0])
    np.testing.assert_array_equal(again[1], first[3][1])
    images, masks = first[0]
    assert images.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32) and masks.dtype == "int32"
    assert float(images.numpy().min()) == -1.0  # black background normalized by (x / 255 - 0.5) / 0.5
    # epochs are reshuffled: the third batch (second epoch's first) is not the first batch again
    assert not np.array_equal(first[2][1], first[0][1])


def test_held_out_scenes_keep_the_classifier_split_whatever_the_seed():
    # mnist_vit_p8 trains on offline_mnist("train", seed=0); test_task_data checks split_indices against it.
    held_out_digits = set(split_indices("test", 0))
    for seed in (1, 2):
        scenes = DigitScenesSource(num_train_scenes=4, num_eval_scenes=20, seed=seed).scenes("test", 128)
        assert set(np.concatenate(scenes.source_indices)) <= held_out_digits
    assert not set(split_indices("test", 1)) <= held_out_digits  # the run's seed alone would draw other digits


def test_bad_task_recipes_fail_when_the_recipe_loads(tmp_path):
    model = {"name": "seg_vit_ti16_digits", "backbone": BACKBONE}
    with pytest.raises(RecipeError, match="has no argument 'num_scenes'"):
        load_recipe({**tiny_recipe(model, tmp_path), "data": {"source": {"name": "digit_scenes", "num_scenes": 3}}})
    with pytest.raises(RecipeError, match="Unknown data_source 'digit_scene'"):
        load_recipe({**tiny_recipe(model, tmp_path), "data": {"source": {"name": "digit_scene"}}})
    with pytest.raises(ValueError, match="no targets_from_example"):  # a classifier on task data
        keras_vit.train(tiny_recipe({"name": "vit_ti16", **{k: v for k, v in BACKBONE.items() if k != "name"}},
                                    tmp_path))


def test_a_classifier_learns_the_digit_of_one_digit_scenes():
    classifier = keras_vit.create("vit_ti16", **{k: v for k, v in BACKBONE.items() if k != "name"}, num_classes=10)
    source = DigitScenesSource(num_train_scenes=8, num_eval_scenes=6, min_objects=1, max_objects=1, min_height=10,
                               max_height=30)
    _, held_out = source.pipelines(classifier, batch_size=4)
    labels = np.concatenate([y.numpy() for _, y in held_out])
    size = classifier.inputs[0].shape[1]
    np.testing.assert_array_equal(labels, [digits[0] for digits in source.scenes("test", size).labels])
    with pytest.raises(ValueError, match="10 digits; 'vit_ti16' has 1000 outputs: set model.num_classes: 10"):
        source.pipelines(keras_vit.create("vit_ti16", **{k: v for k, v in BACKBONE.items() if k != "name"}), 4)


def test_the_shipped_task_recipes_load():
    seg = load_recipe("digits_seg")
    assert seg.model["backbone_weights"] == "runs/mnist_vit_p8_rope/model.keras"
    assert dict(seg.data["source"])["name"] == "digit_scenes"
    assert load_recipe("mnist_vit_p8").model["patch_size"] == 8
    assert load_recipe("mnist_vit_p8_rope").model["attention"] == "rotary_msa"
