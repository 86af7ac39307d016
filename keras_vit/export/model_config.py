"""The model server's `models.config`: a text-format `tensorflow.serving.ModelServerConfig` listing the models.

TF Serving reads it with `--model_config_file`. With `tensorflow-serving-api` installed the file is parsed and
written with its protos; without it, with a message of the same field names and numbers holding only the fields an
export writes (name, base_path, model_platform). A file using other fields (version policies, labels) is then left
alone with an error saying to install `tensorflow-serving-api`, so that no user setting is ever dropped.
"""

import contextlib
import os
import pathlib
import uuid

from keras_vit.export.layout import locked

CONFIG_FILE_NAME = "models.config"


# The fields an export writes, as a FileDescriptorProto in text format, with the real proto's names and numbers
# (tensorflow_serving/config/model_server_config.proto).
_MINIMAL_PROTO = """
name: "keras_vit_minimal_model_server_config.proto" package: "tensorflow.serving" syntax: "proto3"
message_type { name: "ModelConfig" field { name: "name" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
  field { name: "base_path" number: 2 type: TYPE_STRING label: LABEL_OPTIONAL }
  field { name: "model_platform" number: 4 type: TYPE_STRING label: LABEL_OPTIONAL } }
message_type { name: "ModelConfigList" field { name: "config" number: 1 type: TYPE_MESSAGE label: LABEL_REPEATED
  type_name: ".tensorflow.serving.ModelConfig" } }
message_type { name: "ModelServerConfig" field { name: "model_config_list" number: 1 type: TYPE_MESSAGE
  label: LABEL_OPTIONAL type_name: ".tensorflow.serving.ModelConfigList" } }
"""


def _minimal_config_class():
    """A ModelServerConfig message class with only the fields an export writes (`_MINIMAL_PROTO`)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(_MINIMAL_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.ModelServerConfig"))


def config_class():
    """The ModelServerConfig message class: tensorflow-serving-api's when installed, else the minimal one."""
    with contextlib.suppress(ImportError):
        from tensorflow_serving.config import model_server_config_pb2

        return model_server_config_pb2.ModelServerConfig
    return _minimal_config_class()


def updated_config_text(path, name, base_path):
    """The text of `path` (a models.config; missing is fine) with a model entry `name` -> `base_path` added.

    Returns:
        (text, note): the new file text, and a sentence saying what changed (or None when nothing did).
    """
    from google.protobuf import text_format

    cls = config_class()
    config = cls()
    if os.path.exists(path):
        try:
            text_format.Parse(pathlib.Path(path).read_text(encoding="utf-8"), config)
        except text_format.ParseError as error:
            hint = "" if (cls.__module__ or "").startswith("tensorflow_serving") else (
                " It may use fields this fallback parser lacks: `pip install tensorflow-serving-api` and export again."
            )
            raise ValueError(
                f"export: {path} is not a ModelServerConfig this export can update ({error}).{hint} Or add the "
                f"entry yourself: config {{ name: {name!r} base_path: {base_path!r} model_platform: 'tensorflow' }}"
            ) from None
        if "custom_model_config" in config.DESCRIPTOR.fields_by_name and config.HasField("custom_model_config"):
            raise ValueError(f"export: {path} uses custom_model_config; add the model {name!r} to it yourself.")
    for entry in config.model_config_list.config:
        if entry.name == name:
            if entry.base_path != base_path:
                return None, (
                    f"{path} already serves a model named {name!r} from {entry.base_path!r}; left unchanged "
                    f"(this export's base path would be {base_path!r})."
                )
            return None, None
    config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    return text_format.MessageToString(config), f"added model {name!r} to {path}"


def add_model(path, name, base_path):
    """Adds the entry `name` -> `base_path` to the models.config at `path` (created if missing), safely against other
    exports doing the same: the read, change and write happen under a lock on the hidden file `.models.config.lock`
    beside it, and the new text replaces the file in one rename (readers see the old or the new file). Returns the
    note of `updated_config_text`."""
    folder, file_name = os.path.split(path)
    with locked(os.path.join(folder, f".{file_name}.lock")):
        text, note = updated_config_text(path, name, base_path)
        if text is not None:
            temporary = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                pathlib.Path(temporary).write_text(text, encoding="utf-8")
                os.replace(temporary, path)
            finally:
                if os.path.exists(temporary):
                    os.remove(temporary)
    return note
