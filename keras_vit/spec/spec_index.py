"""Where specs live: the zoo's own folder, plugin folders, and an index of names and aliases."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from keras_vit.registry import load_plugins, suggest
from keras_vit.spec.yaml_file import SpecError, read_yaml

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def builtin_spec_dir():
    """The zoo's model specs: inside the installed wheel, or `registry/models` of a source checkout."""
    for candidate in (_PACKAGE_DIR / "_registry" / "models", _PACKAGE_DIR.parent / "registry" / "models"):
        if candidate.is_dir():
            return candidate
    raise SpecError(
        f"keras_vit's model specs are missing (looked in {_PACKAGE_DIR / '_registry'} and "
        f"{_PACKAGE_DIR.parent / 'registry'}): reinstall keras-vit."
    )


_extra_dirs = []
_index = None


def add_spec_dir(path):
    """Adds a folder of `*.yaml` model specs (a plugin's, or the user's) to the zoo."""
    global _index
    path = Path(path).resolve()
    if not path.is_dir():
        raise SpecError(f"Spec folder {path} does not exist.")
    if path not in _extra_dirs:
        _extra_dirs.append(path)
        _index = None


def _build_index():
    load_plugins()
    index, names = {}, {}
    for folder in [builtin_spec_dir(), *_extra_dirs]:
        for path in sorted(folder.glob("*.yaml")):
            data = read_yaml(path)
            name = data.get("name")
            if name != path.stem:
                raise SpecError(f"Spec file {path}: `name` must equal the file name {path.stem!r}; found {name!r}.")
            for key in [name, *(data.get("aliases") or [])]:
                if key in index and index[key] != path:
                    raise SpecError(f"Model name {key!r} is defined twice: in {index[key]} and {path}.")
                index[key] = path
            names[name] = tuple(data.get("aliases") or ())
    return index, names


def _get_index():
    global _index
    if _index is None:
        _index = _build_index()
    return _index


def find_spec_file(name):
    """The YAML file defining model `name` (a zoo name or alias); unknown names raise with suggestions."""
    index, _ = _get_index()
    if name in index:
        return index[name]
    raise SpecError(
        f"Unknown model {name!r}.{suggest(name, index)} "
        f"See keras_vit.list_models() for the zoo, or pass the path of a YAML spec file."
    )


def list_names(pattern="*", include_aliases=True):
    """Zoo model names matching an fnmatch pattern; a model also matches through its aliases."""
    _, names = _get_index()
    found = []
    for name, aliases in names.items():
        keys = [name, *aliases] if include_aliases else [name]
        if any(fnmatch.fnmatchcase(key, pattern) for key in keys):
            found.append(name)
    return sorted(found)


def is_spec_name(name):
    return name in _get_index()[0]
