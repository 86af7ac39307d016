"""`--override key=value` flags, shared by the commands that build a model from a spec."""

from __future__ import annotations

import yaml


def parse_overrides(items, command):
    """["image_size=384", "pooling=gap"] -> {"image_size": 384, "pooling": "gap"} (values parsed as YAML).

    A malformed item stops the command with one line that names it: `keras-vit COMMAND: --override takes ...`.
    """
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(
                f"keras-vit {command}: --override takes key=value (for example image_size=384); received {item!r}."
            )
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides
