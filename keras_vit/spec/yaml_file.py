"""Reading one YAML spec file, with errors that name the file and the line."""

from pathlib import Path

import yaml


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file, the key path and the received value."""


def read_yaml(path):
    """Returns the mapping at the top of the YAML file `path` (safe_load: plain data, no tags)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"Spec file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"Spec file {path} cannot be read: {error}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"Spec file {path} is not valid YAML{where}: {problem}. Fix the file's syntax.") from None
    if not isinstance(data, dict):
        raise SpecError(f"Spec file {path} must hold a mapping of keys (name, family, model, ...); it holds "
                        f"{type(data).__name__}.")
    return data
