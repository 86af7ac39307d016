"""What the `keras-vit` commands share: one-line errors, loading the model `--model` names, `--override key=value`."""

import os
import tempfile

import yaml


def fail(command, message):
    """Stop the command with one line (absl prints it, no traceback): `keras-vit COMMAND: message`."""
    raise SystemExit(f"keras-vit {command}: {message}")


def check_output(command, path, kind="folder"):
    """Stops the command with one line, before any work, when `path` cannot be written as a `kind` ("folder" or
    "file"): it exists as the other kind, lies inside a file, or its nearest existing folder is not writable."""
    path = os.path.abspath(path)
    if os.path.exists(path) and os.path.isdir(path) != (kind == "folder"):
        fail(command, f"{path} is a {'file' if kind == 'folder' else 'folder'}; pass a {kind} path.")
    parent = path if kind == "folder" else os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(command, f"cannot write {path}: {parent} is a file, not a folder.")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as error:
        fail(command, f"cannot write {path}: {parent} is not writable ({error.strerror}).")


def load_keras_file(path, command):
    """The model saved at `path` (model.save), or one line saying why it cannot be read."""
    import keras

    if not os.path.isfile(path):
        fail(command, f"model file {path!r} not found.")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras reports a truncated file as "file not found": say what it is
        fail(command, f"could not load the Keras model file {path!r} ({type(error).__name__}: {error}). Is it a "
             "complete file written by model.save(...)?")


def load_model(command, source, weights=None, overrides=(), tiny=False):
    """The model `--model` names: a saved `.keras` file as it is, or the zoo model built by `create` (with `--weights`,
    `--override` and, when `tiny`, the spec's tiny size); one line saying why not."""
    from keras_vit.spec import SpecError, get_spec
    from keras_vit.zoo import create

    if not source:
        fail(command, "pass --model NAME (a zoo name, e.g. vit_b16) or --model FILE.keras.")
    if source.endswith(".keras"):
        if given := [flag for flag, value in (("--weights", weights), ("--override", overrides), ("--tiny", tiny)) if value]:
            fail(command, f"{' and '.join(given)} apply to --model NAME, not to a saved .keras model.")
        return load_keras_file(source, command)
    try:
        return create(get_spec(source).tiny_spec() if tiny else source, weights=weights,
                      **parse_overrides(overrides, command))
    except (ValueError, KeyError, OSError) as error:  # SpecError and CheckpointError are ValueErrors
        message = str(error).removeprefix(f"{command}: ")
        if weights and not isinstance(error, SpecError):
            message = f"could not load --weights {weights!r} into {source!r}: {message}"
        fail(command, message)


def parse_overrides(items, command):
    """["image_size=384", "pooling=gap"] -> {"image_size": 384, "pooling": "gap"} (values parsed as YAML).

    A malformed item stops the command with one line that names it: `keras-vit COMMAND: --override takes ...`.
    """
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(command, f"--override takes key=value (for example image_size=384); received {item!r}.")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides
