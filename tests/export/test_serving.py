"""Exported SavedModels serve with TensorFlow alone and match the Keras model (issue 7's acceptance)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from tests.export.helpers import FAMILIES, reference, tiny_model

HERE = Path(__file__).resolve().parent
ATOL = 1e-5
TOP_K = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Exports one tiny model per family, then runs both signatures in a fresh process that blocks keras_vit."""
    root = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(7)
    cases, requests = {}, []
    for name in FAMILIES:
        model = tiny_model(name)
        _, height, width, _ = model.inputs[0].shape
        labels = [f"{name}_class_{i}" for i in range(model.outputs[0].shape[-1])]
        labels_file = root / f"{name}_labels.txt"
        labels_file.write_text("\n".join(labels) + "\n")
        result = keras_vit.export(
            model, root / "models" / name, labels=str(labels_file), top_k=TOP_K, include_features=True, verbose=False
        )
        one = rng.uniform(0, 255, size=(1, height, width, 3)).astype("float32")
        three = rng.uniform(0, 255, size=(3, height + 13, width + 5, 3)).astype("float32")
        png_pixels = rng.integers(0, 256, size=(height + 9, width + 21, 3), dtype="uint8")
        jpeg_pixels = rng.integers(0, 256, size=(height * 2, width - 4, 3), dtype="uint8")
        png, jpeg = root / f"{name}.png", root / f"{name}.jpg"
        png.write_bytes(tf.io.encode_png(png_pixels).numpy())
        jpeg.write_bytes(tf.io.encode_jpeg(jpeg_pixels, quality=90).numpy())
        # The JPEG's pixels as the test decodes them (JPEG is lossy: the served graph must decode the same way).
        jpeg_decoded = tf.io.decode_jpeg(jpeg.read_bytes(), channels=3).numpy()
        np.save(root / f"{name}_one.npy", one)
        np.save(root / f"{name}_three.npy", three)
        calls = {
            "default_1": ("serving_default", str(root / f"{name}_one.npy"), [one]),
            "default_3": ("serving_default", str(root / f"{name}_three.npy"), [three]),
            "bytes_1": ("serving_bytes", [str(jpeg)], [jpeg_decoded[None]]),
            "bytes_2": ("serving_bytes", [str(png), str(jpeg)], [png_pixels[None], jpeg_decoded[None]]),
        }
        expected = {}
        for key, (_, _, parts) in calls.items():
            refs = [reference(model, part) for part in parts]
            expected[key] = {k: np.concatenate([r[k] for r in refs]) for k in refs[0]}
        requests.append(
            {
                "path": result.path,
                "calls": [
                    {"signature": sig, "input": inp, "output": str(root / f"{name}_{key}.npz")}
                    for key, (sig, inp, _) in calls.items()
                ],
            }
        )
        cases[name] = {"result": result, "labels": labels, "expected": expected, "root": root}
    (root / "requests.json").write_text(json.dumps(requests))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run(
        [sys.executable, str(HERE / "serving_client.py"), str(root / "requests.json")],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    client = json.loads(process.stdout.strip().splitlines()[-1])
    for name in FAMILIES:
        cases[name]["got"] = {key: dict(np.load(root / f"{name}_{key}.npz")) for key in cases[name]["expected"]}
    return cases, client


def test_the_serving_process_never_imported_keras_vit(served):
    _, client = served
    assert client["keras_vit_modules"] == []


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("call", ["default_1", "default_3", "bytes_1", "bytes_2"])
def test_signatures_match_the_keras_model(served, name, call):
    cases, _ = served
    case = cases[name]
    got, expected = case["got"][call], case["expected"][call]
    assert set(got) == {"probabilities", "top_k_classes", "top_k_scores", "top_k_labels", "features"}
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=ATOL, rtol=0)
    np.testing.assert_allclose(got["features"], expected["features"], atol=ATOL, rtol=1e-5)
    want_classes = np.argsort(-expected["probabilities"], axis=-1, kind="stable")[:, :TOP_K]
    np.testing.assert_array_equal(got["top_k_classes"], want_classes)
    assert got["top_k_classes"].dtype == np.int32
    np.testing.assert_allclose(
        got["top_k_scores"], np.take_along_axis(expected["probabilities"], want_classes, axis=-1), atol=ATOL, rtol=0
    )
    labels = np.asarray(case["labels"])
    np.testing.assert_array_equal(got["top_k_labels"].astype(str), labels[want_classes])
    # Not vacuous: randomized weights spread the probabilities.
    assert expected["probabilities"].max() - expected["probabilities"].min() > 1e-3
