"""Checkpoint readers: a file in, a flat {key: np.ndarray} out. The container is recognized from its first bytes,
not its name; files are only opened for reading.

    .npz            NumPy archive (the original ViT release, big_vision exports)
    .safetensors    timm / Hugging Face (read here without the safetensors package; bfloat16 becomes float32)
    .pth / .bin     PyTorch pickles (needs torch; loaded with weights_only=True)
    .weights.h5     a file written by `keras-vit convert` (carries the model config it was written from)
    .keras          a zoo model saved by Keras (`model.save`, `keras-vit train`'s model.keras and
                    checkpoints/epoch_NNN.keras), read with `keras.saving.load_model`

keras_vit's own files (.weights.h5, .keras) give the same `Checkpoint`: tensors keyed by Keras variable path and
the model's config, family and layout in its metadata, so that one converter (`KerasFile`) serves both.
"""

import json
import os
import struct
import zipfile

import numpy as np

from keras_vit.weights.protocol import Checkpoint, CheckpointError

_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "BF16": np.uint16}


def read_checkpoint(path, progress=None):
    """Reads a checkpoint file into a `Checkpoint` (flat tensors and the format name).

    Args:
        path: a local file path (str or os.PathLike), or a dict {key: array} taken as is.
        progress: optional callable progress(done, total) called as tensors are read (.npz, .safetensors).

    Returns:
        A `Checkpoint`.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or not a checkpoint; the message names the file.
    """
    if isinstance(path, dict):
        return Checkpoint("<dict>", "dict", {str(k): np.asarray(v) for k, v in path.items()})
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint file {path!r} does not exist (or is not a file).")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) < 8:
        raise CheckpointError(f"{path!r} is not a checkpoint: it has only {len(head)} bytes.")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):  # the HDF5 signature
        return _read_h5(path)
    if head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path):
        return _read_zip(path, progress)
    # safetensors: the JSON header's length (8 bytes, little-endian), then the header
    if 2 <= struct.unpack("<Q", head[:8])[0] <= os.path.getsize(path) and head[8:9] == b"{":
        return _read_safetensors(path, progress)
    if head[:1] == b"\x80":  # a pickle protocol marker: a legacy (non-zip) torch.save file
        return _read_torch(path)
    raise CheckpointError(
        f"{path!r} is not a checkpoint keras_vit can read: expected a .npz archive, a .safetensors file, a PyTorch "
        f".pth/.bin file, a .weights.h5 file written by `keras-vit convert` or a zoo model's .keras file (first "
        f"bytes {head[:8]!r})."
    )


def _read_zip(path, progress=None):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:  # its directory, at the end, was cut off or damaged
        raise CheckpointError(
            f"{path!r} is a truncated or damaged .keras model file or zip archive (.npz, PyTorch): its zip directory "
            f"is unreadable ({error}). A .keras file was probably cut off while being written: save the model again "
            f"(model.save) or use an earlier checkpoint (checkpoints/epoch_NNN.keras); download an .npz or PyTorch "
            f"file again."
        ) from None
    if "config.json" in names and "model.weights.h5" in names:
        return _read_keras(path)
    if any(name.endswith("data.pkl") for name in names):
        return _read_torch(path)
    if not any(name.endswith(".npy") for name in names):
        raise CheckpointError(f"{path!r} is a zip archive without .npy arrays: not a NumPy checkpoint.")
    tensors = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for index, key in enumerate(data.files):
                tensors[key] = np.asarray(data[key])
                if progress:
                    progress(index + 1, len(data.files))
    except Exception as error:  # zlib, CRC, truncated member, pickled object arrays
        raise CheckpointError(f"{path!r} could not be read as a .npz checkpoint: {error}. Download it again.") from None
    return Checkpoint(path, "npz", tensors)


def safetensors_header(path):
    """({key: (dtype, shape, (begin, end))}, metadata, data start, data end) of a .safetensors file, from its
    header alone (the end is where the last tensor ends: a complete file ends there)."""
    with open(path, "rb") as handle:
        try:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length).decode("utf-8"))
            metadata = header.pop("__metadata__", None) or {}
            entries = {k: (v["dtype"], tuple(v["shape"]), tuple(v["data_offsets"])) for k, v in header.items()}
        except (struct.error, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{path!r} has a damaged safetensors header ({type(error).__name__}: {error}).") from None
    return entries, metadata, 8 + length, 8 + length + max((e[2][1] for e in entries.values()), default=0)


def _read_safetensors(path, progress=None):
    entries, metadata, start, end = safetensors_header(path)
    size = os.path.getsize(path)
    if end > size:
        raise CheckpointError(f"{path!r} is truncated: its tensors end at byte {end} but the file has {size} bytes. "
                              f"Download it again.")
    data = np.memmap(path, dtype=np.uint8, mode="r") if size > start else np.zeros((0,), np.uint8)
    tensors = {}
    for key, (dtype, shape, (begin, stop)) in entries.items():
        if dtype not in _SAFETENSORS_DTYPES:
            raise CheckpointError(f"{path!r}: tensor {key!r} has dtype {dtype}, which keras_vit does not read.")
        array = np.asarray(data[start + begin : start + stop]).view(_SAFETENSORS_DTYPES[dtype])
        if dtype == "BF16":  # bfloat16, the high half of a float32, becomes float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        if array.size != int(np.prod(shape)):
            raise CheckpointError(f"{path!r}: tensor {key!r} holds {array.size} values but its shape is {shape}.")
        tensors[key] = array.reshape(shape).copy()
        if progress:
            progress(len(tensors), len(entries))
    return Checkpoint(path, "safetensors", tensors, {"safetensors": metadata})


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path!r} is a PyTorch file; reading it needs torch (pip install torch), or convert it to .safetensors "
            f"where torch is installed."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path!r} could not be read as a PyTorch checkpoint: {error}") from None
    wrappers = ("state_dict", "model", "model_ema", "module")
    state = next((state[w] for w in wrappers if isinstance(state, dict) and isinstance(state.get(w), dict)), state)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path!r} holds a {type(state).__name__}, not a state dict of tensors.")
    bf16 = torch.bfloat16  # NumPy has no bfloat16: such tensors become float32
    tensors = {
        str(key).removeprefix("module."): (value.float() if value.dtype == bf16 else value).detach().cpu().numpy()
        for key, value in state.items()
        if hasattr(value, "detach")
    }
    return Checkpoint(path, "torch", tensors)


def is_keras_vit_weights_file(path):
    """Whether `path` is a `.weights.h5` file that carries keras_vit's model metadata (`keras-vit convert`'s output)
    rather than a plain `model.save_weights` file."""
    try:
        return _h5_metadata(path) is not None
    except CheckpointError:
        return False


def _h5_metadata(path):
    """(config, family) stored in a `.weights.h5` file by `write_weights_file`, or None for a plain Keras one."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            config, family = (handle.attrs.get(f"keras_vit_{name}") for name in ("config", "family"))
    except OSError as error:
        raise CheckpointError(f"{path!r} is a damaged or truncated HDF5 file: {error}. Write or download it again.") from None
    return None if config is None or family is None else (json.loads(config), str(family))


def load_keras_weights(model, path):
    """Loads a plain `model.save_weights` file into `model` (Keras matches it layer by layer and checks shapes)."""
    try:  # a missing file raises FileNotFoundError, an OSError
        model.load_weights(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"could not load {path!r} into {model.name!r}: {error}") from None


def _read_h5(path):
    if (metadata := _h5_metadata(path)) is None:
        raise CheckpointError(
            f"{path!r} is an HDF5 file without keras_vit's metadata (not written by `keras-vit convert`): load a "
            f"plain Keras weights file into the model it came from with model.load_weights()."
        )
    from keras_vit.registry import registry

    config, family = metadata
    try:
        model = registry("model").get(family).from_config(config)
        model.load_weights(path)
    except Exception as error:
        raise CheckpointError(f"{path!r} could not be read as a keras_vit weights file: {error}") from None
    return _zoo_checkpoint(path, "keras_vit_h5", model, config, family)


def _read_keras(path):
    """A `.keras` model file of a zoo model, loaded with Keras's public `keras.saving.load_model` (safe mode, not
    compiled: an optimizer's state in the file is not read)."""
    import keras

    import keras_vit.models  # noqa: F401  (registers the zoo's classes for deserialization)
    from keras_vit.registry import load_plugins, registry

    load_plugins()  # and the plugins' classes

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:
        raise CheckpointError(
            f"{path!r} is a .keras model file that keras.saving.load_model could not load ({type(error).__name__}: "
            f"{error}). If it is damaged, save the model again or use an earlier checkpoint (checkpoints/"
            f"epoch_NNN.keras); if it holds another package's layers, import that package first."
        ) from None
    family = getattr(type(model), "registered_name", None)
    if family not in registry("model") or getattr(model, "layout", None) is None:
        raise CheckpointError(
            f"{path!r} holds a Keras model of class {type(model).__name__} ({model.name!r}), not a keras_vit zoo "
            f"model, so keras_vit cannot tell which of its weights are the head and the position tables. Use it with "
            f"keras.saving.load_model({path!r}), or for a zoo model save it from the model keras_vit.create built."
        )
    return _zoo_checkpoint(path, "keras", model, model.get_config(), family)


def _zoo_checkpoint(path, format, model, config, family):
    """The `Checkpoint` of a rebuilt zoo model: its variables by path, and its config, family and layout."""
    tensors = {variable.path: np.asarray(variable) for variable in model.weights}
    return Checkpoint(path, format, tensors, {"config": config, "family": family, "layout": model.layout})


def write_weights_file(model, path):
    """Saves `model`'s weights to a Keras `.weights.h5` file that `model.load_weights` reads, plus the model's
    family and config as HDF5 attributes so that `keras_vit.weights.load` can also read it into a model of another
    image size (resampling the position table) or another number of classes."""
    import h5py

    path = os.fspath(path)  # Keras's save_weights refuses a name not ending in .weights.h5
    family = getattr(type(model), "registered_name", None)
    if family is None:
        raise ValueError(f"{type(model).__name__} is not a keras_vit zoo model (no registered family).")
    model.save_weights(path)
    with h5py.File(path, "a") as handle:
        handle.attrs.update({"keras_vit_family": family, "keras_vit_config": json.dumps(model.get_config())})
    return path
