"""The manifest of published checkpoints (`weights/*.yaml` at the repository root, shipped in the wheel as
`keras_vit/_weights/*.yaml`): `name.tag` -> source URL, format, sha256, input size, preprocessing and the
published accuracy. `resolve` turns a tag into a local file (downloading with `keras.utils.get_file`)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from keras_vit.registry import suggest
from keras_vit.weights.protocol import CheckpointError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Inside the installed wheel, or `weights/` of a source checkout.
MANIFEST_DIRS = [_PACKAGE_DIR / "_weights", _PACKAGE_DIR.parent / "weights"]
# What a checkpoint file's name ends with; a missing file named so is reported as missing, not as an unknown tag.
CHECKPOINT_SUFFIXES = (".npz", ".safetensors", ".pth", ".pt", ".bin", ".h5", ".keras", ".ckpt")


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """One published checkpoint. `tag` is "name.tag" (vit_b16.augreg_in21k_ft_in1k)."""

    tag: str
    model: str
    url: str
    format: str
    image_size: int
    num_classes: int
    mean: tuple
    std: tuple
    crop_pct: float | None = None
    interpolation: str = "bilinear"
    sha256: str | None = None
    accuracy: dict | None = None
    source: str = ""
    overrides: dict | None = None


_FIELDS = {field.name for field in dataclasses.fields(WeightsEntry)}


def _entries():
    entries = {}
    for directory in MANIFEST_DIRS:
        for file in sorted(directory.glob("*.yaml")):
            data = yaml.safe_load(file.read_text()) or {}
            model = data.get("model", file.stem)
            for tag, item in (data.get("weights") or {}).items():
                full = f"{model}.{tag}"
                entries[full] = WeightsEntry(**{
                    **{k: v for k, v in item.items() if k in _FIELDS}, "tag": full, "model": model,
                    "image_size": int(item["image_size"]), "num_classes": int(item["num_classes"]),
                    "mean": tuple(item.get("mean", (0.5, 0.5, 0.5))), "std": tuple(item.get("std", (0.5, 0.5, 0.5))),
                })
    return entries


def list_weights(model=None):
    """Sorted `name.tag` of the published checkpoints in the manifest (of one model when given)."""
    return sorted(t for t, e in _entries().items() if model is None or e.model == model)


def get_weights_entry(tag):
    """The `WeightsEntry` of a `name.tag`; KeyError with close suggestions when unknown."""
    entries = _entries()
    if tag not in entries:
        raise KeyError(f"No published checkpoint {tag!r} in the manifest.{suggest(tag, entries)}")
    return entries[tag]


def resolve(weights, cache_dir=None):
    """A local checkpoint path for `weights`: an existing path as is; a manifest `name.tag` downloaded once with
    `keras.utils.get_file` (sha256 checked when the manifest has one). A string that is neither, and not shaped like
    a file path (no folder, no checkpoint suffix), raises CheckpointError with the closest published tags."""
    if not isinstance(weights, (str, os.PathLike)):
        return weights
    text = os.fspath(weights)
    entries = {} if os.path.exists(text) else _entries()
    entry = entries.get(text)
    if entry is None:
        if entries and not set(text) & {"/", os.sep} and not text.lower().endswith(CHECKPOINT_SUFFIXES):
            # Not a path's shape either: most likely a mistyped tag, not a missing file
            raise CheckpointError(f"weights={text!r} is neither a checkpoint file nor a published checkpoint (name.tag)."
                                  f"{suggest(text, entries)} keras_vit.weights.list_weights() lists the published ones.")
        return text
    import keras

    filename = f"{entry.tag}{Path(entry.url).suffix or '.' + entry.format}"
    try:
        return keras.utils.get_file(
            filename, entry.url, file_hash=entry.sha256, hash_algorithm="sha256", cache_dir=cache_dir,
            cache_subdir="keras_vit_weights",
        )
    except Exception as error:
        raise OSError(
            f"Could not download {entry.tag} from {entry.url}: {error}. Without a network, download the file "
            f"elsewhere and pass its path (weights='...')."
        ) from None


def preprocessing_for(tag):
    """The `ImagePreprocessing` layer a published checkpoint expects: its input size, mean/std and interpolation.

    Example:
        >>> prep = keras_vit.weights.preprocessing_for("vit_b16.orig_in21k_ft_in1k")   # 384x384, mean = std = 0.5
    """
    from keras_vit.preprocessing import ImagePreprocessing

    entry = get_weights_entry(tag)
    return ImagePreprocessing(entry.image_size, mean=entry.mean, std=entry.std, interpolation=entry.interpolation)
