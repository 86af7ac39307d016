"""Name -> component registries, one per kind, the slots that models fill from them, and the plugin loader.

Every layer, block, stem, head and model family of keras_vit is found by a permanent snake_case name. Registering a
Keras class also registers it for Keras serialization, so whatever a registry knows saves and loads in `.keras` files.

A third-party package extends keras_vit through the entry-point group ``keras_vit.plugins``::

    # in the plugin's pyproject.toml
    [project.entry-points."keras_vit.plugins"]
    my_plugin = "my_plugin:register"

The entry point names a callable (called once, with no arguments) or a module (imported). Inside it the plugin
registers its classes with ``keras_vit.register(kind, name)`` and may add a folder of YAML model specs with
``keras_vit.add_spec_dir(path)``. See docs/plugins.md.

This module imports neither Keras nor TensorFlow: the built-in components are imported on the first lookup.
"""

import dataclasses
import difflib
import fnmatch
import importlib
import importlib.metadata
import inspect
import threading
import warnings

PLUGIN_GROUP = "keras_vit.plugins"

KINDS = ("patch_embed", "position", "attention", "mlp", "norm", "block", "stem", "pooling", "head", "layer", "model", "neck",
         "decoder", "data_source")
# Keras arguments every layer takes; a model sets them, a spec never does.
KERAS_ARGS = ("name", "dtype", "trainable")


def suggest(name, candidates, n=3):
    """A ' Did you mean ...?' sentence for an unknown `name` (empty when nothing is close)."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=n, cutoff=0.5)
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
            import keras

            existing = self._entries.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"The {self.kind} name {name!r} is already registered to {existing.__module__}."
                                 f"{existing.__qualname__}; choose another name for {cls.__module__}.{cls.__qualname__}.")
            if isinstance(cls, type) and issubclass(cls, (keras.layers.Layer, keras.Model)):
                keras.saving.register_keras_serializable(package=package or cls.__module__.split(".")[0])(cls)
            self._entries[name] = cls
            cls.registered_name = name
            return cls

        return decorator

    def get(self, name):
        """Returns the class registered as `name`; an unknown name raises ValueError with the closest known names."""
        _load_components()
        if not isinstance(name, str) or name not in self._entries:
            known = sorted(self._entries)
            raise ValueError(f"Unknown {self.kind} {name!r}.{suggest(name, known)} Known {self.kind} names: "
                             f"{', '.join(known)}.")
        return self._entries[name]

    def names(self, pattern="*"):
        """Sorted registered names matching the fnmatch `pattern`."""
        _load_components()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name):
        _load_components()
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


def accepted_args(cls):
    """The constructor arguments of a component class, Keras's own (name, dtype, trainable) excluded."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return tuple(
        p.name for p in parameters
        if p.name != "self" and p.name not in KERAS_ARGS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def slot_config(value, default=None):
    """A slot value as a mapping {"name": ..., **args}: a bare name, a mapping (whose name defaults to `default`)."""
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict):
        return {"name": default, **value} if "name" not in value else dict(value)
    raise ValueError(f"must be a registered name or a mapping {{name: ..., <argument>: ...}}; received {value!r}")


@dataclasses.dataclass(frozen=True)
class Slot:
    """A place in a model that a registered component fills: what kind, which by default, and what it gets.

    A spec writes a slot as a bare registered name or as {name: ..., <argument>: <value>, ...}; the model passes the
    component every argument of `provided` that its constructor declares, and the spec's own arguments on top.

    Attributes:
        kind: the registry kind the component comes from.
        default: the registered name used when the spec names none; None for an optional slot left empty.
        interface: the tensors the slot passes and expects, e.g. "tokens" (batch, num_tokens, hidden_dim); a
            component whose class declares another `interface` does not fit. A tuple allows several.
        provided: arguments the model computes itself (a spec cannot set them in the slot).
        empty: a value that leaves the slot empty ("none"), besides None.
    """

    kind: str
    default: str | None = None
    interface: str | tuple | None = None
    provided: tuple = ()
    empty: str | None = None

    def is_empty(self, value):
        return value is None or (self.empty is not None and value == self.empty)

    def component(self, value):
        """(class, own arguments) of a slot value; ValueError naming the problem for a value that does not fit."""
        config = slot_config(value, self.default)
        name = config.pop("name")
        try:
            cls = registry(self.kind).get(name)
        except ValueError as error:
            raise ValueError(f"{error}{f' Or {self.empty!r} for none.' if self.empty else ''}") from None
        interfaces = self.interface if isinstance(self.interface, tuple) else (self.interface,)
        declared = getattr(cls, "interface", None)
        if self.interface is not None and declared is not None and declared not in interfaces:
            raise ValueError(f"{self.kind} {name!r} works on {declared} but this slot passes "
                             f"{' or '.join(interfaces)}; choose one of: {', '.join(self.names())}")
        accepted = accepted_args(cls)
        for key in config:
            if key in self.provided:
                raise ValueError(f"argument {key!r} of {name!r} is set by the model itself; remove it here")
            if key not in accepted:
                raise ValueError(f"{name!r} has no argument {key!r}.{suggest(key, accepted)} Its arguments: "
                                 f"{', '.join(a for a in accepted if a not in self.provided) or 'none'}")
        return cls, config

    def names(self):
        """The registered names that fit this slot."""
        interfaces = self.interface if isinstance(self.interface, tuple) else (self.interface,)
        return [
            n for n in registry(self.kind).names()
            if self.interface is None or getattr(registry(self.kind).get(n), "interface", None) in (None, *interfaces)
        ]

    def build(self, value, context, **keras_kwargs):
        """The component of a slot value, constructed with the `context` arguments its constructor declares."""
        cls, own = self.component(value)
        accepted = accepted_args(cls)
        return cls(**{k: v for k, v in context.items() if k in accepted}, **own, **keras_kwargs)


_components_loaded = False
_plugins_loaded = False
_lock = threading.RLock()


def _load_components():
    """Imports keras_vit's own layers and model families (once), then the plugins."""
    global _components_loaded
    with _lock:
        if not _components_loaded:
            _components_loaded = True  # set first: the imports below register through this module
            importlib.import_module("keras_vit.layers")
            importlib.import_module("keras_vit.models")
    load_plugins()


def load_plugins(force=False):
    """Loads every entry point of the group `keras_vit.plugins` once. A broken plugin warns and is skipped."""
    global _plugins_loaded
    with _lock:
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
                warnings.warn(f"keras_vit plugin {entry_point.name!r} ({entry_point.value}) failed to load and is "
                              f"skipped: {type(error).__name__}: {error}", stacklevel=2)
