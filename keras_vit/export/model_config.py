"""The model server's `models.config`: a text-format `tensorflow.serving.ModelServerConfig` listing the models.

TF Serving reads it with `--model_config_file`. With `tensorflow-serving-api` installed the file is parsed and
written with its protos; without it, with a message of the same field names and numbers holding only the fields an
export writes (name, base_path, model_platform). A file using other fields (version policies, labels) is then left
alone with an error saying to install `tensorflow-serving-api`, so that no user setting is ever dropped.
"""

from __future__ import annotations

import contextlib
import os
import uuid

from keras_vit.export.layout import locked

CONFIG_FILE_NAME = "models.config"


def _minimal_config_class():
    """A ModelServerConfig message class with the fields an export writes (same names and numbers as the real
    proto: ModelServerConfig.model_config_list = 1, ModelConfigList.config = 1, ModelConfig.name = 1,
    base_path = 2, model_platform = 4)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file_proto = descriptor_pb2.FileDescriptorProto(
        name="keras_vit_minimal_model_server_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    string, message = descriptor_pb2.FieldDescriptorProto.TYPE_STRING, descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    optional, repeated = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    model_config = file_proto.message_type.add(name="ModelConfig")
    for name, number in (("name", 1), ("base_path", 2), ("model_platform", 4)):
        model_config.field.add(name=name, number=number, type=string, label=optional)
    config_list = file_proto.message_type.add(name="ModelConfigList")
    config_list.field.add(name="config", number=1, type=message, label=repeated, type_name=".tensorflow.serving.ModelConfig")
    server_config = file_proto.message_type.add(name="ModelServerConfig")
    server_config.field.add(
        name="model_config_list", number=1, type=message, label=optional, type_name=".tensorflow.serving.ModelConfigList"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.ModelServerConfig"))


def config_class(use_serving_api=True):
    """The ModelServerConfig message class: tensorflow-serving-api's when installed, else the minimal one."""
    if use_serving_api:
        with contextlib.suppress(ImportError):
            from tensorflow_serving.config import model_server_config_pb2

            return model_server_config_pb2.ModelServerConfig
    return _minimal_config_class()


def updated_config_text(path, name, base_path, use_serving_api=True):
    """The text of `path` (a models.config; missing is fine) with a model entry `name` -> `base_path` added.

    Returns:
        (text, note): the new file text, and a sentence saying what changed (or None when nothing did).
    """
    from google.protobuf import text_format

    cls = config_class(use_serving_api)
    config = cls()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            existing = file.read()
        try:
            text_format.Parse(existing, config)
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


def add_model(path, name, base_path, use_serving_api=True):
    """Adds the entry `name` -> `base_path` to the models.config at `path` (created if missing), safely against other
    exports doing the same: the read, change and write happen under a lock on the hidden file `.models.config.lock`
    beside it, and the new text replaces the file in one rename. Returns the note of `updated_config_text`."""
    folder, file_name = os.path.split(path)
    with locked(os.path.join(folder, f".{file_name}.lock")):
        text, note = updated_config_text(path, name, base_path, use_serving_api=use_serving_api)
        if text is not None:
            write_text_atomically(path, text)
    return note


def write_text_atomically(path, text):
    """Writes `text` to a sibling temporary file and renames it over `path` (readers see the old or the new file)."""
    temporary = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
