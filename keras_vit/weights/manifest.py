"""The manifest of published checkpoints (`weights/*.yaml` at the repository root, shipped in the wheel as
`keras_vit/_weights/*.yaml`): `name.tag` -> source URL, format, sha256, input size, preprocessing, license and the
published accuracy. `resolve` turns a tag (ours, timm's or an hf:// address) into a checked local file, downloaded
once into a cache."""

import dataclasses
import functools
import hashlib
import importlib.util
import os
import re
import zipfile
from pathlib import Path

import yaml

from keras_vit.registry import suggest
from keras_vit.weights.protocol import CheckpointError
from keras_vit.weights.readers import safetensors_header

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Inside the installed wheel, or `weights/` of a source checkout.
MANIFEST_DIRS = [_PACKAGE_DIR / "_weights", _PACKAGE_DIR.parent / "weights"]
# What a checkpoint file's name ends with; a missing file named so is reported as missing, not as an unknown tag.
CHECKPOINT_SUFFIXES = (".npz", ".safetensors", ".pth", ".pt", ".bin", ".h5", ".keras", ".ckpt")
# The manifest's Hub URLs start so; $HF_ENDPOINT (a mirror, a test's local server) replaces it when downloading.
HUB = "https://huggingface.co"


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """One published checkpoint. `tag` is "name.tag" (vit_b16.augreg_in21k_ft_in1k); `timm` is timm's name for it
    (vit_base_patch16_224.augreg_in21k_ft_in1k); `overrides` are the hyperparameters the file needs that differ
    from the zoo spec (timm's ResNet constants)."""

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
    license: str | None = None
    timm: str | None = None
    overrides: dict | None = None


_FIELDS = {field.name for field in dataclasses.fields(WeightsEntry)}


@functools.cache
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
    """The `WeightsEntry` of a `name.tag` (or timm's name, or hf://timm/...); KeyError with close suggestions."""
    entry = find_weights(tag)
    if entry is None:
        raise KeyError(f"No published checkpoint {tag!r} in the manifest.{suggest(tag, _entries())}")
    return entry


def find_weights(weights, model=None):
    """The `WeightsEntry` that `weights` names, or None when it names no published checkpoint.

    `weights`: a `name.tag` ("vit_b16.augreg2_in21k_ft_in1k"), timm's name ("vit_base_patch16_224.augreg2_in21k_ft_in1k"),
    "hf://timm/<timm's name>", a `WeightsEntry`, or, with `model` (a zoo name), the tag alone ("augreg2_in21k_ft_in1k").
    Raises CheckpointError when it names the weights of another model than `model`, naming that model.
    """
    entry, owners = (weights if isinstance(weights, WeightsEntry) else None), []
    if isinstance(weights, str):
        entries, text = _entries(), weights.removeprefix("hf://timm/")
        owners = sorted(e.model for e in entries.values() if e.tag.endswith(f".{text}"))  # of `text` as a tag alone
        entry = entries.get(f"{model}.{text}") or entries.get(text) or next(
            (e for e in entries.values() if e.timm == text), None)
        if entry is None and model and owners:
            entry = entries[f"{owners[0]}.{text}"]  # a tag alone that only other models have
    if entry is not None and model and entry.model != model:
        owners = owners or [entry.model]  # found by a tag alone: every model publishing it, else the entry's
        raise CheckpointError(f"weights {weights!r} are published for {', '.join(owners)}, not {model}: "
                              f"create({entry.model!r}, weights={entry.tag.split('.', 1)[1]!r}). {model} has: "
                              f"{', '.join(list_weights(model)) or 'no published weights'}.")
    return entry


def resolve(weights, cache_dir=None, model=None):
    """A local checkpoint path for `weights`: an existing path as is; a published checkpoint (any form
    `find_weights` takes, or "hf://<repo id>[/<file>]", default file model.safetensors) downloaded once into
    `cache_dir` (default $KERAS_VIT_HOME, else keras_vit_weights/ in Keras's cache dir) and checked: its sha256 when
    the manifest has one, else that the file is complete. A string that is neither, and not shaped like a file path
    (no folder, no checkpoint suffix), raises CheckpointError with the closest published tags."""
    if not isinstance(weights, (str, os.PathLike, WeightsEntry)) or os.path.exists(text := str(weights)):
        return weights
    entry = find_weights(weights, model)
    if entry is None and not text.startswith("hf://"):
        if set(text) & {"/", os.sep} or text.lower().endswith(CHECKPOINT_SUFFIXES):
            return text  # shaped like a path: read_checkpoint reports the file missing
        tags = list_weights(model) if model else list(_entries())
        raise CheckpointError(f"weights={text!r} is neither a checkpoint file nor a published checkpoint (name.tag)."
                              f"{suggest(f'{model}.{text}' if model else text, tags)} "
                              f"keras_vit.weights.list_weights() lists the published ones.")
    url = entry.url if entry else f"{HUB}/{text[5:]}" + ("" if text.count("/") > 3 else "/model.safetensors")
    hub = re.fullmatch(f"{HUB}/([^/]+/[^/]+)/(?:resolve/([^/]+)/)?(.+)", url)
    root = Path(cache_dir or os.environ.get("KERAS_VIT_HOME") or Path(
        os.environ.get("KERAS_HOME", Path.home() / ".keras"), "keras_vit_weights"))
    path = root / (f"{hub[1]}/{hub[3]}" if hub else f"{entry.tag}{Path(url).suffix}")
    for _ in range(2):  # a cached file that is cut off or fails its sha256 is downloaded again, once
        if not path.exists():
            _download(url, hub, root, path)
        problem = _problem(path, entry.sha256 if entry else None)
        if problem is None:
            return str(path)
        path.unlink()
    raise CheckpointError(f"{url} was downloaded again to {path} and still {problem}: the published file is not the "
                          f"one the manifest describes, so nothing was loaded. Download it yourself and pass its path.")


def _download(url, hub, root, path):
    """`url` to `path`: a Hub file with huggingface_hub when it is installed, else plain HTTPS (Keras's get_file).
    Both write a temporary file first or remove what failed, so an interrupted download leaves no partial file."""
    endpoint = os.environ.get("HF_ENDPOINT", HUB).rstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if hub and importlib.util.find_spec("huggingface_hub"):
            from huggingface_hub import hf_hub_download

            hf_hub_download(hub[1], hub[3], revision=hub[2], local_dir=root / hub[1], endpoint=endpoint)
        else:
            import keras

            source = endpoint + url[len(HUB):] if hub else url
            keras.utils.get_file(path.name, source, cache_dir=str(path.parent), cache_subdir="")
    except Exception as error:
        raise OSError(f"Could not download {url} ({type(error).__name__}: {error}). Without a network, download it "
                      f"elsewhere and put it at {path} (used from then on), or pass its path: weights='...'.") from None


def _problem(path, sha256):
    """What is wrong with a downloaded file (another sha256, or cut off), or None."""
    if sha256:
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest = hasher.hexdigest()
        return None if digest == sha256 else f"its sha256 is {digest}, the manifest's {sha256}"
    if path.suffix == ".safetensors":
        try:
            end, size = safetensors_header(path)[3], path.stat().st_size
        except CheckpointError:
            return "its safetensors header is damaged"
        return None if size == end else f"it has {size} bytes where its header describes {end}"
    return "it is cut off (not a complete zip archive)" if path.suffix == ".npz" and not zipfile.is_zipfile(path) else None


def preprocessing_for(tag):
    """The `ImagePreprocessing` layer a published checkpoint expects (any form `find_weights` takes): its input
    size, mean/std, interpolation and central crop (crop_pct).

    Example:
        >>> prep = keras_vit.weights.preprocessing_for("vit_b16.augreg2_in21k_ft_in1k")   # 224, crop 0.9, bicubic
    """
    from keras_vit.preprocessing import ImagePreprocessing

    entry = get_weights_entry(tag)
    return ImagePreprocessing(entry.image_size, mean=entry.mean, std=entry.std, interpolation=entry.interpolation,
                              crop_pct=entry.crop_pct)
