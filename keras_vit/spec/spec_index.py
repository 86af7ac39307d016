"""Where specs live: the zoo's own folder, plugin folders, and an index of names and aliases."""

import fnmatch
import warnings
from pathlib import Path

from keras_vit.registry import load_plugins, suggest
from keras_vit.spec.yaml_file import SpecError, read_yaml

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def builtin_spec_dir(kind="models"):
    """The zoo's shipped YAML files of `kind`: "models" (model specs) or "recipes" (keras_vit.train's), inside the
    installed wheel, or `registry/<kind>` of a source checkout. Task specs (detection and segmentation models on zoo
    backbones, keras_vit.tasks) are in `tasks/` beside the models."""
    for candidate in (_PACKAGE_DIR / "_registry" / kind, _PACKAGE_DIR.parent / "registry" / kind):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"keras_vit's {kind} (registry/{kind}) are missing (looked in {_PACKAGE_DIR / '_registry'} and "
                    f"{_PACKAGE_DIR.parent / 'registry'}): reinstall keras-vit.")


_extra_dirs = []
_index = None
_reported = set()  # warnings already given about broken spec files


def add_spec_dir(path):
    """Adds a folder of `*.yaml` model specs (a plugin's, or the user's) to the zoo."""
    global _index
    path = Path(path).resolve()
    if not path.is_dir():
        raise SpecError(f"Spec folder {path} does not exist.")
    if path not in _extra_dirs:
        _extra_dirs.append(path)
        _index = None


def name_problem(path, name):
    """What is wrong when a spec file's `name` is not its file name (None when they agree)."""
    if name != Path(path).stem:
        return (f"Spec file {path}: `name` must equal the file name {Path(path).stem!r}; found {name!r}. Rename the "
                "file or fix `name`.")
    return None


def _read_entry(path):
    """Returns (name, aliases) declared by the spec file `path`; raises SpecError if the file cannot be indexed."""
    data = read_yaml(path)
    name, aliases = data.get("name"), data.get("aliases") or []
    if problem := name_problem(path, name):
        raise SpecError(problem)
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        raise SpecError(f"Spec file {path}: `aliases` must be a list of names; received {aliases!r}.")
    return name, aliases


def _warn_once(message):
    # The index is rebuilt whenever a folder is added; a broken file should be reported once, not on every rebuild.
    if message not in _reported:
        _reported.add(message)
        warnings.warn(message, stacklevel=4)


def _build_index():
    """Indexes every spec folder, skipping broken files so that one bad file never takes down the whole zoo.

    Returns:
        (paths, names, broken): name or alias -> file; zoo model name -> aliases (task models, in `tasks/` beside the
        zoo's folder, are found by name but not listed); file stem -> the message of the SpecError that a request for
        that broken spec raises.
    """
    load_plugins()
    paths, names, broken = {}, {}, {}
    models = builtin_spec_dir()
    # dict.fromkeys: a folder added twice (or the zoo's own folder added again) is read once.
    for folder in dict.fromkeys([models, models.parent / "tasks", *_extra_dirs]):
        for path in sorted(folder.glob("*.yaml")):
            try:
                name, aliases = _read_entry(path)
                taken = [key for key in [name, *aliases] if key in paths]
                if taken:
                    # The first definition wins: the zoo's own folder is read before plugin and user folders.
                    raise SpecError(f"Model name {taken[0]!r} is defined twice: in {paths[taken[0]]} and {path}; the "
                                    "first is used. Rename or remove one of them.")
            except SpecError as error:
                broken.setdefault(path.stem, str(error))
                _warn_once(f"{error} (This spec is skipped; the rest of the zoo still works.)")
                continue
            paths.update(dict.fromkeys([name, *aliases], path))
            if folder != models.parent / "tasks":
                names[name] = tuple(aliases)
    return paths, names, broken


def _get_index():
    global _index
    if _index is None:
        _index = _build_index()
    return _index


def find_spec_file(name):
    """The YAML file defining model `name` (a zoo name or alias).

    Raises:
        SpecError: `name` is unknown (with the closest known names), or its file is broken (with the file's problem).
    """
    paths, _, broken = _get_index()
    if name in paths:
        return paths[name]
    if name in broken:
        raise SpecError(broken[name])
    raise SpecError(f"Unknown model {name!r}.{suggest(name, paths)} See keras_vit.list_models() for the zoo, or pass "
                    "the path of a YAML spec file.")


def list_names(pattern="*", include_aliases=True):
    """Zoo model names matching an fnmatch pattern; a model also matches through its aliases."""
    _, names, _ = _get_index()
    return sorted(name for name, aliases in names.items()
                  if any(fnmatch.fnmatchcase(key, pattern) for key in [name, *(aliases if include_aliases else ())]))
