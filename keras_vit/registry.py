"""Name -> component registries, one per kind, and the plugin loader.

Every layer, block, stem, head and model family of keras_vit is found by a permanent snake_case name. Registering a
Keras class also registers it for Keras serialization, so whatever a registry knows saves and loads in `.keras` files.

A third-party package extends keras_vit through the entry-point group ``keras_vit.plugins``::

    # in the plugin's pyproject.toml
    [project.entry-points."keras_vit.plugins"]
    my_plugin = "my_plugin:register"

The entry point names a callable (called once, with no arguments) or a module (imported). Inside it the plugin
registers its classes with ``keras_vit.register(kind, name)`` and may add a folder of YAML model specs with
``keras_vit.add_spec_dir(path)``.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import threading
import warnings

import keras

PLUGIN_GROUP = "keras_vit.plugins"

KINDS = ("patch_embed", "position", "attention", "mlp", "block", "stem", "pooling", "head", "layer", "model")


def suggest(name, candidates, n=3):
    """A ' Did you mean ...?' sentence for an unknown `name` (empty when nothing is close)."""
    close = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Registry:
    """Maps permanent names of one kind of component to their classes.

    Args:
        kind: what the registry holds, e.g. "block" or "position".
    """

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name, *, package=None):
        """Class decorator that registers `cls` under `name` (and with Keras serialization for Keras classes).

        Args:
            name: the permanent snake_case name, written into saved specs.
            package: the Keras serialization package; defaults to the top-level module of the class, so a plugin's
                classes are saved as "plugin_package>ClassName" and ours as "keras_vit>ClassName".
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"A {self.kind} name must be a non-empty string; received {name!r}.")

        def decorator(cls):
            existing = self._entries.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(
                    f"The {self.kind} name {name!r} is already registered to "
                    f"{existing.__module__}.{existing.__qualname__}; choose another name for "
                    f"{cls.__module__}.{cls.__qualname__}."
                )
            if isinstance(cls, type) and issubclass(cls, (keras.layers.Layer, keras.Model)):
                keras.saving.register_keras_serializable(package=package or cls.__module__.split(".")[0])(cls)
            self._entries[name] = cls
            cls.registered_name = name
            return cls

        return decorator

    def get(self, name):
        """Returns the class registered as `name`; an unknown name raises ValueError with the closest known names."""
        load_plugins()
        if name not in self._entries:
            known = sorted(self._entries)
            raise ValueError(
                f"Unknown {self.kind} {name!r}.{suggest(name, known)} Known {self.kind} names: {', '.join(known)}."
            )
        return self._entries[name]

    def names(self, pattern="*"):
        """Sorted registered names matching the fnmatch `pattern`."""
        load_plugins()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name):
        load_plugins()
        return name in self._entries

    def __repr__(self):
        return f"Registry({self.kind!r}, {sorted(self._entries)})"


REGISTRIES = {kind: Registry(kind) for kind in KINDS}


def registry(kind):
    """The registry of one kind (see KINDS)."""
    if kind not in REGISTRIES:
        raise ValueError(f"Unknown registry kind {kind!r}.{suggest(kind, KINDS)} Kinds: {', '.join(KINDS)}.")
    return REGISTRIES[kind]


def register(kind, name, *, package=None):
    """Registers a class as component `name` of `kind`; usable as a decorator.

    Example:
        >>> @keras_vit.register("block", "my_block")
        ... class MyBlock(keras.layers.Layer): ...
    """
    return registry(kind).register(name, package=package)


_plugins_loaded = False
_plugins_lock = threading.RLock()


def load_plugins(force=False):
    """Loads every entry point of the group `keras_vit.plugins` once. A broken plugin warns and is skipped."""
    global _plugins_loaded
    if _plugins_loaded and not force:
        return
    with _plugins_lock:
        if _plugins_loaded and not force:
            return
        # Set first: a plugin that imports keras_vit and registers things must not re-enter this loader.
        _plugins_loaded = True
        for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
            try:
                obj = entry_point.load()
                if callable(obj):
                    obj()
            except Exception as error:  # noqa: BLE001 - one broken plugin must not break the zoo
                warnings.warn(
                    f"keras_vit plugin {entry_point.name!r} ({entry_point.value}) failed to load and is skipped: "
                    f"{type(error).__name__}: {error}",
                    stacklevel=2,
                )
