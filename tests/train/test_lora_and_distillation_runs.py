"""`keras_vit.train` with model.lora (adapters beside the merged model) and model.teacher (DeiT distillation)."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from tests.train.test_train import QUICK, TINY, quick_train

IMAGES = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")


def test_a_lora_run_trains_the_adapters_and_saves_them_beside_the_merged_model(tmp_path):
    summary = quick_train(tmp_path, epochs=1, model={**TINY, "lora": {"rank": 2, "targets": ["qkv"]}})
    hidden, layers, classes = TINY["hidden_dim"], TINY["num_layers"], 10
    assert summary["trainable_parameters"] == layers * 2 * (hidden + 3 * hidden) + hidden * classes + classes
    merged = keras.saving.load_model(summary["model_path"])  # a plain zoo model
    assert not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(merged.predict(IMAGES, verbose=0), summary.model.predict(IMAGES, verbose=0), atol=1e-5)
    assert (tmp_path / "adapters.npz").stat().st_size < 20_000


@pytest.mark.slow  # two runs: the teacher's and the student's
def test_a_distillation_run_trains_the_student_against_a_saved_teacher(tmp_path):
    teacher = quick_train(tmp_path / "teacher", epochs=1)
    student = {**TINY, "name": "deit_ti16_distilled", "teacher": teacher["model_path"]}
    summary = keras_vit.train("digits_deit_distill", **{**QUICK, "model": student, "epochs": 1,
                                                          "output_dir": str(tmp_path / "student")})
    assert 0.0 <= summary["eval_accuracy"] <= 1.0 and summary["optimizer_steps"] == 3
    log = [json.loads(line) for line in (tmp_path / "student" / "train_log.jsonl").read_text().splitlines()]
    epoch = next(r for r in log if r["event"] == "epoch")
    assert epoch["distillation_loss"] > 0 and epoch["label_loss"] > 0
    reloaded = keras.saving.load_model(summary["model_path"])  # the student alone
    assert reloaded.name == "deit_ti16_distilled"
    np.testing.assert_allclose(reloaded.predict(IMAGES, verbose=0), summary.model.predict(IMAGES, verbose=0), atol=1e-6)
