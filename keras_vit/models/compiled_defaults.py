"""Compiled speed on the default path: zoo models use XLA for `predict`, `fit` and `evaluate` without being asked.

Keras's `jit_compile="auto"` turns XLA on only when an accelerator is present; on a CPU the same ViT graph runs
about 1.6x faster under XLA than through plain `model.predict`. `CompiledDefaults`, a base of every `ZooModel`,
changes what "auto" means for zoo models:

- `model.compile(...)` (jit_compile left at "auto") and `predict`/`evaluate` before any `compile` use XLA whenever
  every layer supports it (`layer.supports_jit`), also on CPU. Under a tf.distribute strategy scope Keras's own
  choice stands (no XLA).
- An explicit `model.compile(..., jit_compile=False)` (or `run_eagerly=True`) always wins.
- `predict` on an in-memory array slices it into a plain tf.data pipeline (same batches, same order) instead of
  Keras's general array adapter, which costs about 0.1 s per call.
- A layer XLA cannot compile (a plugin calling `tf.py_function`, say) does not break anything: the first
  `predict` that fails to compile reruns the same batch without XLA, and `fit`/`evaluate` lower the forward pass
  to XLA's HLO once before their first step (no data consumed) and run without XLA if that fails. Either way one
  warning says so, and `model.jit_compile` becomes False.

    >>> model = keras_vit.create("vit_ti16", num_classes=10)
    >>> model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    >>> model.jit_compile
    True
"""

from __future__ import annotations

import warnings

import keras

# Words in the TensorFlow error raised when a graph cannot be compiled with XLA ("Detected unsupported operations
# when trying to compile graph ... on XLA_CPU_JIT: PyFuncStateless (No registered 'PyFuncStateless' OpKernel for
# XLA_CPU_JIT devices ...").
_XLA_FAILURE_MARKERS = ("XLA_", "unsupported operations", "XLA compilation", "xla")
# predict() slices arrays up to this size itself (a larger one takes Keras's own path).
_MAX_INLINE_BYTES = 1 << 30


def is_xla_compile_error(error):
    """True when `error` (an exception) reports that TensorFlow could not compile a graph with XLA."""
    text = str(error)
    return any(marker in text for marker in _XLA_FAILURE_MARKERS)


class CompiledDefaults:
    """Mixin for `keras.Model` subclasses (TensorFlow backend): XLA by default, with a clean fallback.

    Keeps no state of its own besides two private flags; the user-facing switch is Keras's own `jit_compile`.
    """

    def _resolve_auto_jit_compile(self):
        # Keras's hook for jit_compile="auto" (compile()) and for a model used before compile(): see module doc.
        resolved = super()._resolve_auto_jit_compile()
        if resolved or keras.backend.backend() != "tensorflow":
            return resolved
        if getattr(self, "_distribute_strategy", None) is not None:
            return False  # Keras disables XLA with tf.distribute; keep its choice.
        if _op_determinism_enabled():
            return False  # not every op has a deterministic XLA kernel
        return all(getattr(layer, "supports_jit", True) for layer in self._flatten_layers())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        # Keras turns an in-memory array into a tf.data pipeline of index slicing, flat_map and map on every call
        # (about 0.1 s on 2 CPU cores, 5% of a ViT-B/16 batch of 8); a plain sliced dataset gives the same batches.
        dataset = self._array_as_dataset(x, batch_size, steps)
        if dataset is not None:
            x, batch_size = dataset, None
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)

    def _array_as_dataset(self, x, batch_size, steps):
        if keras.backend.backend() != "tensorflow" or steps is not None:
            return None
        import numpy as np
        import tensorflow as tf

        if self._distribute_strategy is not None or tf.distribute.has_strategy():
            return None  # Keras distributes its own pipeline

        if not isinstance(x, (np.ndarray, tf.Tensor)) or len(x.shape) == 0 or None in tuple(x.shape):
            return None
        if int(np.prod(x.shape)) * np.dtype(getattr(x.dtype, "as_numpy_dtype", x.dtype)).itemsize > _MAX_INLINE_BYTES:
            return None
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            return None  # let Keras report the bad value
        return tf.data.Dataset.from_tensor_slices(x).batch(batch_size or 32)

    # predict: a failing XLA compile raises before anything runs, and the batch is still in hand, so rerun it.
    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        super().make_predict_function(force=force)
        if not self.run_eagerly and self.jit_compile and keras.backend.backend() == "tensorflow":
            self.predict_function = self._predict_with_xla_fallback(self.predict_function)
        return self.predict_function

    def _predict_with_xla_fallback(self, compiled_function):
        import tensorflow as tf

        def predict_function(data):
            try:
                return compiled_function(data)
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
                if not is_xla_compile_error(e):
                    raise
                self._fall_back_from_xla(e)
                super(CompiledDefaults, self).make_predict_function(force=True)
                return self.predict_function(data)

        return predict_function

    # fit/evaluate read their batches inside the compiled graph: check before the first step instead.
    def make_train_function(self, force=False):
        if self.train_function is None or force:
            self._check_xla_lowering(training=True)
        return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            self._check_xla_lowering(training=False)
        return super().make_test_function(force=force)

    def _check_xla_lowering(self, training):
        """Lowers the forward pass to HLO once per mode (no execution, no data); falls back if that fails."""
        if self.run_eagerly or keras.backend.backend() != "tensorflow" or not self.jit_compile:
            return
        checked = self.__dict__.setdefault("_zoo_xla_checked", set())
        if training in checked:
            return
        import tensorflow as tf

        specs = []
        for tensor in self.inputs or []:
            shape = (1, *tuple(tensor.shape)[1:])
            if any(dim is None for dim in shape):
                return  # no static shape to lower with; rely on Keras
            specs.append(tf.TensorSpec(shape, tensor.dtype))
        if not specs:
            return
        checked.add(training)
        forward = tf.function(lambda *x: self(x[0] if len(x) == 1 else list(x), training=training), jit_compile=True)
        try:
            forward.experimental_get_compiler_ir(*specs)(stage="hlo")
        except (ValueError, tf.errors.OpError) as e:
            if not is_xla_compile_error(e):
                raise
            self._fall_back_from_xla(e)

    def _fall_back_from_xla(self, error):
        first_line = next((line for line in str(error).splitlines() if "XLA" in line), str(error)[:300])
        warnings.warn(
            f"Model {self.name!r} could not be compiled with XLA; running it without XLA (slower). Cause: "
            f"{first_line.strip()[:400]} To skip the attempt, call model.compile(..., jit_compile=False).",
            RuntimeWarning,
            stacklevel=3,
        )
        self.jit_compile = False
        # Functions already built with XLA are rebuilt without it on their next use.
        self.train_function = None
        self.test_function = None


def _op_determinism_enabled():
    try:
        from tensorflow.python.framework.config import is_op_determinism_enabled
    except ImportError:  # pragma: no cover - moved in a future TensorFlow
        return False
    return is_op_determinism_enabled()
