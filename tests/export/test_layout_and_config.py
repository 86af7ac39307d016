"""The TF Serving folder layout, never overwriting, models.config, labels and the XLA fallback."""

import os
import sys

import pytest
import tensorflow as tf
from google.protobuf import text_format

import keras_vit
from keras_vit.export import exporter
from keras_vit.export.layout import write_version
from keras_vit.export.model_config import config_class, updated_config_text
from keras_vit.export.signatures import ServingSignatures
from tests.export.helpers import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("vit_ti16")


def serving_config(path):
    """models.config parsed with tensorflow-serving-api's own ModelServerConfig."""
    model_server_config_pb2 = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(path.read_text(), config)
    return config


def test_versions_count_up_and_an_existing_version_is_never_overwritten(model, tmp_path, capsys):
    base = tmp_path / "models" / "vit"
    fast = {"jit_compile": False, "verbose": False}
    assert keras_vit.export(model, base, **fast).version == 1
    assert keras_vit.export(model, base, **fast).version == 2
    assert keras_vit.export(model, base, version=7, **fast).version == 7
    assert keras_vit.export(model, base, **fast).version == 8
    (base / "7" / "user_note.txt").write_text("keep me")
    before = sorted(os.listdir(base / "7"))
    with pytest.raises(FileExistsError, match=r"7 exists already; an export never overwrites a version. Pass version=9"):
        keras_vit.export(model, base, version=7, **fast)
    assert sorted(os.listdir(base / "7")) == before and (base / "7" / "user_note.txt").read_text() == "keep me"
    assert sorted(os.listdir(base)) == ["1", "2", "7", "8"]  # no temporary folders left behind
    for version in ("1", "8"):
        assert tf.saved_model.contains_saved_model(str(base / version))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    base = tmp_path / "vit"
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"an older version")

    def failing_write(folder):
        os.makedirs(folder)
        with open(os.path.join(folder, "half.pb"), "wb") as file:
            file.write(b"half a model")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_version(str(base), 2, failing_write)
    assert sorted(os.listdir(base)) == ["1"]
    assert (base / "1" / "saved_model.pb").read_bytes() == b"an older version"


def test_models_config_parses_with_the_serving_protos_and_keeps_other_models(model, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    # A config a user wrote: another model with a version policy this export must keep.
    (models / "models.config").write_text(
        'model_config_list { config { name: "resnet" base_path: "/models/resnet" model_platform: "tensorflow" '
        "model_version_policy { specific { versions: 3 } } } }\n"
    )
    result = keras_vit.export(model, models / "vit_b16", jit_compile=False)
    printed = capsys.readouterr().out
    config = serving_config(models / "models.config")
    entries = {entry.name: entry for entry in config.model_config_list.config}
    assert sorted(entries) == ["resnet", "vit_b16"]
    assert list(entries["resnet"].model_version_policy.specific.versions) == [3]
    assert entries["vit_b16"].base_path == "/models/vit_b16"
    assert entries["vit_b16"].model_platform == "tensorflow"
    # A second version of the same model leaves the config as it is.
    text = (models / "models.config").read_text()
    keras_vit.export(model, models / "vit_b16", jit_compile=False, verbose=False)
    assert (models / "models.config").read_text() == text
    # The docker line mounts the config's folder at /models and names the config file.
    expected = (
        f"docker run --rm -p 8500:8500 -p 8501:8501 -v {models}:/models tensorflow/serving "
        "--model_config_file=/models/models.config"
    )
    assert result.docker_command == expected and expected in printed


def test_without_the_serving_protos_the_config_is_written_with_the_same_wire_names(tmp_path, monkeypatch):
    path = tmp_path / "models.config"
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "tensorflow_serving.config", None)  # as if tensorflow-serving-api were missing
        descriptor = config_class()().DESCRIPTOR
        assert (descriptor.full_name, descriptor.file.name) == (
            "tensorflow.serving.ModelServerConfig", "keras_vit_minimal_model_server_config.proto")
        text, note = updated_config_text(str(path), "vit", "/models/vit")
    assert note == f"added model 'vit' to {path}"
    path.write_text(text)
    config = serving_config(path)
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] == [
        ("vit", "/models/vit", "tensorflow")
    ]
    # A file with fields the fallback does not know is refused (and so never rewritten without them).
    path.write_text('model_config_list { config { name: "a" base_path: "/a" model_version_policy { all {} } } }')
    with monkeypatch.context() as patch, pytest.raises(ValueError, match="pip install tensorflow-serving-api"):
        patch.setitem(sys.modules, "tensorflow_serving.config", None)
        updated_config_text(str(path), "vit", "/models/vit")


def test_a_config_it_cannot_update_stops_the_export_before_writing(model, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "models.config").write_text("this is { not a config")
    with pytest.raises(ValueError, match="is not a ModelServerConfig this export can update"):
        keras_vit.export(model, models / "vit", jit_compile=False, verbose=False)
    assert not (models / "vit").exists()
    assert (models / "models.config").read_text() == "this is { not a config"


def test_labels_must_name_every_class(model, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    with pytest.raises(ValueError, match="holds 2 class names but the model has 10 classes"):
        keras_vit.export(model, tmp_path / "vit", labels=str(labels), verbose=False)
    with pytest.raises(FileNotFoundError, match="labels file"):
        keras_vit.export(model, tmp_path / "vit", labels=str(tmp_path / "missing.txt"), verbose=False)
    assert not (tmp_path / "vit").exists()


def test_auto_falls_back_to_no_xla_when_xla_cannot_compile(model, tmp_path, monkeypatch):
    class NoXla(ServingSignatures):
        def __init__(self, *args, jit_compile=True, **kwargs):
            super().__init__(*args, jit_compile=jit_compile, **kwargs)
            if jit_compile:
                def refuse(images):
                    raise tf.errors.InvalidArgumentError(None, None, "Detected unsupported operations\nmore")
                self.serving_default = refuse

    monkeypatch.setattr(exporter, "ServingSignatures", NoXla)
    with pytest.warns(UserWarning, match="XLA could not compile model 'vit_ti16' .Detected unsupported operations.; "
                      "exporting without XLA"):
        result = keras_vit.export(model, tmp_path / "vit", verbose=False)
    assert result.jit_compile is False and "--xla_cpu_compilation_enabled" not in result.docker_command


def test_warmup_requests_replay_against_the_export(model, tmp_path):
    prediction_log_pb2 = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    result = keras_vit.export(model, tmp_path / "models" / "vit", warmup_batch_sizes=(1, 3), verbose=False)
    records = tf.data.TFRecordDataset(os.path.join(result.path, "assets.extra", "tf_serving_warmup_requests"))
    loaded = tf.saved_model.load(result.path)
    seen = []
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "vit"
        signature = request.model_spec.signature_name
        (name,) = request.inputs
        value = tf.make_ndarray(request.inputs[name])
        # What TF Serving does with the record on load: run it through the signature.
        out = loaded.signatures[signature](**{name: tf.constant(value)})
        seen.append((signature, name, len(value), out["probabilities"].shape[0]))
    assert sorted(seen) == [
        ("serving_bytes", "image_bytes", 1, 1), ("serving_bytes", "image_bytes", 3, 3),
        ("serving_default", "images", 1, 1), ("serving_default", "images", 3, 3),
    ]
