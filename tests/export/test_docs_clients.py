"""docs/export.md's REST client runs as written (against a local stand-in for TF Serving's REST API)."""

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from tests.export.helpers import reference, tiny_model
from tests.export.rest_stand_in import StandIn

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_documented_rest_client_runs(tmp_path, monkeypatch, capsys):
    requests = pytest.importorskip("requests")
    assert requests
    (block,) = [b for b in python_blocks() if "requests.post" in b]
    model = tiny_model("vit_ti16", seed=5)
    size = model.inputs[0].shape[1]
    result = keras_vit.export(model, tmp_path / "models" / "vit_b16", labels=[f"c{i}" for i in range(10)],
                              jit_compile=False, verbose=False)
    rng = np.random.default_rng(0)
    cat = rng.integers(0, 256, size=(50, 40, 3), dtype="uint8")
    dog = rng.integers(0, 256, size=(20, 70, 3), dtype="uint8")
    (tmp_path / "cat.jpg").write_bytes(tf.io.encode_jpeg(cat).numpy())
    (tmp_path / "dog.png").write_bytes(tf.io.encode_png(dog).numpy())
    monkeypatch.chdir(tmp_path)
    with StandIn("vit_b16", result.path) as server:
        code = block.replace("http://localhost:8501", server.url).replace("(2, 224, 224, 3)", f"(2, {size}, {size}, 3)")
        namespace = {}
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (the documented example, as written)
    printed = capsys.readouterr().out.splitlines()
    # Row format: one line per file, classes then scores then labels; compare with the Keras model.
    cat_decoded = tf.io.decode_jpeg((tmp_path / "cat.jpg").read_bytes(), channels=3).numpy()
    for line, pixels in zip(printed[:2], [cat_decoded, dog]):
        probabilities = reference(model, pixels[None].astype("float32"))["probabilities"][0]
        want = [int(c) for c in np.argsort(-probabilities, kind="stable")[:5]]
        assert line.startswith(str(want)), (line, want)
        assert f"'c{want[0]}'" in line
    # Columnar format: the argmax of the returned probabilities equals top_k_classes[:, 0].
    outputs = namespace["outputs"]
    np.testing.assert_array_equal(np.argmax(outputs["probabilities"], axis=-1), np.asarray(outputs["top_k_classes"])[:, 0])
    expected = reference(model, namespace["pixels"].astype("float32"))["probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)


def test_documented_grpc_example_builds_valid_requests():
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    (block,) = [b for b in python_blocks() if "PredictRequest" in b]
    # Only the request building runs here (no server): the input names are the signatures' names.
    assert 'request.inputs["image_bytes"]' in block and 'request.inputs["images"]' in block
    request = predict_pb2.PredictRequest()
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"\xff\xd8\xff"], dtype=tf.string))
    assert tf.make_ndarray(request.inputs["image_bytes"]).tolist() == [b"\xff\xd8\xff"]
