"""Loading a spec by zoo name or path: `extends` resolution, then validation."""

import warnings
from pathlib import Path

from keras_vit.spec.model_spec import NOT_INHERITED, ModelSpec, merge
from keras_vit.spec.spec_index import find_spec_file, name_problem
from keras_vit.spec.yaml_file import SpecError, read_yaml

_MAX_DEPTH = 8


def resolve_extends(path, find, not_inherited, kind="Spec", name_kind="zoo name", error=SpecError, chain=None):
    """The mapping in the YAML file `path` with its `extends:` chain merged in (specs and recipes alike).

    Args:
        path: an absolute path of a YAML file.
        find: name -> path of a shipped file, for an `extends` that is a name rather than a .yaml path.
        not_inherited: keys that describe one file and never pass from a parent to a child.
        kind, name_kind: words for the messages ("Spec", "zoo name"; "Recipe", "recipe name").
        error: the exception class raised for a malformed `extends`, a cycle or a chain deeper than 8.
    """
    chain = chain or [path]
    data = read_yaml(path)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise error(f"{kind} file {path}: `extends` must be a {name_kind} or a file path; received {parent!r}.")
    parent_path = (Path(path).parent / parent) if parent.endswith((".yaml", ".yml")) else find(parent)
    parent_path = Path(parent_path).resolve()
    if parent_path in chain or len(chain) > _MAX_DEPTH:
        names = " -> ".join(str(p) for p in [*chain, parent_path])
        raise error(f"{kind} file {path}: `extends` forms a cycle or is too deep: {names}.")
    base = resolve_extends(parent_path, find, not_inherited, kind, name_kind, error, [*chain, parent_path])
    inherited = {k: v for k, v in base.items() if k not in not_inherited}
    own = {k: v for k, v in data.items() if k != "extends"}
    return merge(inherited, own)


def load_spec_file(path):
    """Loads and validates the spec in the YAML file `path`."""
    path = Path(path).resolve()
    return ModelSpec.from_dict(resolve_extends(path, find_spec_file, NOT_INHERITED), source=path)


def get_spec(name_or_path, **overrides):
    """The resolved, validated spec of a zoo model (name or alias) or of a YAML file, with model overrides applied.

    Example:
        >>> spec = keras_vit.get_spec("vit_b16", num_classes=10)
        >>> spec.model["hidden_dim"]
        768
    """
    if isinstance(name_or_path, ModelSpec):
        spec = name_or_path
    elif isinstance(name_or_path, Path) or (isinstance(name_or_path, str) and name_or_path.endswith((".yaml", ".yml"))):
        spec = load_spec_file(name_or_path)
        if problem := name_problem(spec.source, spec.name):  # a zoo folder would skip this file (add_spec_dir)
            warnings.warn(f"{problem} (Loaded by its path, it is used as it is: model {spec.name!r}.)", stacklevel=2)
    elif isinstance(name_or_path, str):
        spec = load_spec_file(find_spec_file(name_or_path))
    else:
        raise SpecError(f"A model is named by a string or a spec file path; received {name_or_path!r}.")
    return spec.with_overrides(**overrides)
