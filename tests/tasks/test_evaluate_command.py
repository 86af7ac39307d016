"""`keras-vit evaluate` and keras_vit.tasks.evaluate.evaluate: the plumbing from a model's serving contract to
pycocotools and the confusion matrix, and one-line errors for bad paths."""

import subprocess
import sys

import numpy as np
import pytest

import keras_vit
from keras_vit.tasks import evaluate as evaluation
from keras_vit.tasks.data.digit_scenes import digit_scenes
from keras_vit.tasks.predictor import Predictor, load_predictor
from tests.test_cli import environment

pytest.importorskip("pycocotools")


def _oracle(task, shift=0.0):
    """A predictor that looks each image up among the held-out scenes and returns its ground truth in the serving
    contract (1-based float classes, [ymin, xmin, ymax, xmax] boxes; class ids per pixel)."""
    scenes = digit_scenes("test", num_scenes=12, seed=0)

    def predict(images):
        rows = [next(i for i, scene in enumerate(scenes.images) if np.array_equal(scene, image)) for image in images]
        if task == "segmenter":
            return {"class_ids": scenes.masks[rows].astype("int32")}
        out = {"detection_boxes": np.zeros((len(rows), 5, 4), "float32"),
               "detection_scores": np.zeros((len(rows), 5), "float32"),
               "detection_classes": np.ones((len(rows), 5), "float32"), "num_detections": np.full(len(rows), 5.0)}
        for k, row in enumerate(rows):
            n = len(scenes.labels[row])
            out["detection_boxes"][k, :n] = np.clip(scenes.boxes[row] + [0, shift, 0, shift], 0, 1)
            out["detection_scores"][k, :n] = 0.9
            out["detection_classes"][k, :n] = scenes.labels[row] + 1
        return out

    return Predictor(predict, task, "oracle")


@pytest.mark.parametrize("batch_size", [5, 12])
def test_ground_truth_served_back_scores_one(monkeypatch, batch_size):
    monkeypatch.setattr("keras_vit.tasks.predictor.load_predictor", lambda path: _oracle("detector"))
    task, metrics, names, _ = evaluation.evaluate("x", num_scenes=12, batch_size=batch_size)
    assert task == "detector" and names == tuple("0123456789")
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    monkeypatch.setattr("keras_vit.tasks.predictor.load_predictor", lambda path: _oracle("segmenter"))
    task, metrics, names, _ = evaluation.evaluate("x", num_scenes=12, batch_size=batch_size)
    assert task == "segmenter" and names[0] == "background" and len(names) == 11
    assert metrics["mean_iou"] == pytest.approx(1.0) and metrics["pixel_accuracy"] == 1.0


def test_boxes_shifted_by_a_third_of_their_width_score_below_one(monkeypatch):
    # Not a vacuous pipeline: boxes moved sideways lose the strict IoU thresholds.
    monkeypatch.setattr("keras_vit.tasks.predictor.load_predictor", lambda path: _oracle("detector", shift=0.06))
    metrics = evaluation.evaluate("x", num_scenes=12)[1]
    assert metrics["AP75"] < 0.9 and metrics["AP"] < 0.9


def test_report_lines():
    lines = evaluation.report_lines("segmenter", {"iou": np.array([0.5, np.nan]), "mean_iou": 0.5,
                                                  "pixel_accuracy": 0.75}, ("background", "0"))
    assert lines[2].split() == ["background", "0.500"] and lines[3].split() == ["0", "absent"]
    assert "over the 1 classes present" in lines[4]
    lines = evaluation.report_lines("detector", {"AP": 0.25, "AP50": 0.5, "AP75": 0.125}, ())
    assert [line.split() for line in lines[1:]] == [["AP", "0.250"], ["AP50", "0.500"], ["AP75", "0.125"]]


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no SavedModel"):
        load_predictor(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_predictor(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not load the Keras model file"):
        load_predictor(tmp_path / "broken.keras")
    classifier = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny)
    classifier.save(tmp_path / "classifier.keras")
    with pytest.raises(ValueError, match="not a detector or a segmenter"):
        load_predictor(tmp_path / "classifier.keras")


def test_the_command_prints_one_line_for_a_bad_path(tmp_path):
    result = subprocess.run([sys.executable, "-m", "keras_vit.cli", "evaluate", "--model", str(tmp_path / "nothing")],
                            env=environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (f"keras-vit evaluate: {str(tmp_path / 'nothing')!r} not found "
                                                      "(a SavedModel folder, a .keras file or a run folder).")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_command_scores_an_exported_segmenter_and_its_run_folder(tmp_path):
    model = keras_vit.create(keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec())
    (tmp_path / "runs" / "seg").mkdir(parents=True)
    model.save(tmp_path / "runs" / "seg" / "model.keras")
    keras_vit.export(model, tmp_path / "models" / "seg", jit_compile=False, verbose=False)
    printed = []
    for path in (tmp_path / "models" / "seg", tmp_path / "runs" / "seg"):
        result = subprocess.run([sys.executable, "-m", "keras_vit.cli", "evaluate", "--model", str(path),
                                 "--num_scenes", "6"], env=environment(), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        printed.append(result.stdout.splitlines()[1:])
        assert "mean IoU" in result.stdout and "6 held-out digit scenes" in result.stdout
    assert printed[0] == printed[1]  # the SavedModel and the .keras file score the same through one contract
