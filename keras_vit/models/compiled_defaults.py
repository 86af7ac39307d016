"""Compiled speed on the default path: zoo models use XLA for `predict`, `fit` and `evaluate` without being asked.

Keras's `jit_compile="auto"` turns XLA on only when an accelerator is present. On a CPU without TensorFlow's oneDNN
kernels the same ViT graph runs about 1.5x faster under XLA than through plain `model.predict` (ViT-B/16, batch 8,
2 cores: 1.52 vs 2.22 s); with oneDNN on, inference ties (1.55 vs 1.54 s) and a ViT-Ti training step is still ~10%
faster under XLA (2.18 vs 2.40 s). `CompiledDefaults`, a base of every `ZooModel`, changes what "auto" means for
zoo models:

- `model.compile(...)` (jit_compile left at "auto") and `predict`/`evaluate` before any `compile` use XLA whenever
  every layer supports it (`layer.supports_jit`), also on CPU. Under a tf.distribute strategy scope Keras's own
  choice stands (no XLA).
- Except `mixed_bfloat16` on a CPU with bfloat16 instructions (AVX512_BF16 or AMX) and TensorFlow's oneDNN
  kernels on (`TF_ENABLE_ONEDNN_OPTS`, on by default on x86 Linux): there oneDNN's bfloat16 matmuls run at twice
  the float32 rate while XLA's CPU backend computes bfloat16 no faster than float32 (ViT-B/16, batch 8, 2 cores:
  1.03 s per batch through oneDNN vs 1.55 s under XLA, float32 1.54 s), so "auto" means no XLA.
- An explicit `model.compile(..., jit_compile=False)` (or `run_eagerly=True`) always wins.
- `predict` on an in-memory array runs the same batches through the compiled predict function directly (as
  `predict_on_batch` does) instead of building Keras's tf.data pipeline and iterator on every call (0.04-0.1 s).
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

import functools
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

    Keeps no state of its own besides one private set (the modes whose XLA lowering was checked); the user-facing
    switch is Keras's own `jit_compile`.
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
        if _compute_dtype(self) == "bfloat16" and onednn_bfloat16_available():
            return False  # oneDNN's bfloat16 kernels beat XLA on this CPU (module doc)
        return all(getattr(layer, "supports_jit", True) for layer in self._flatten_layers())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        # Keras turns an in-memory array into a tf.data pipeline of index slicing, flat_map and map and builds a new
        # distributed iterator on every call (0.04-0.1 s on 2 CPU cores: 7% of a TNT-S batch of 8). Without
        # callbacks, an array is cut into the same batches here and each runs through the compiled predict
        # function directly, as predict_on_batch does; with callbacks, a plain sliced dataset keeps the order.
        batched = self._array_batches(x, batch_size, steps)
        if batched is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        x, batch_size = batched
        if callbacks is not None:
            import tensorflow as tf

            dataset = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
            return super().predict(dataset, verbose=verbose, callbacks=callbacks)
        return self._predict_batches(x, batch_size, verbose)

    def _predict_batches(self, x, batch_size, verbose):
        import numpy as np
        from keras import tree

        num_batches = -(-int(x.shape[0]) // batch_size)
        progress = keras.utils.Progbar(num_batches) if verbose not in (0, "0") and num_batches else None
        outputs = []
        for index in range(num_batches):
            outputs.append(self.predict_on_batch(x[index * batch_size : (index + 1) * batch_size]))
            if progress is not None:
                progress.update(index + 1)
        if not outputs:
            raise ValueError("Expected input data to be non-empty: predict received an array of 0 samples.")
        return tree.map_structure_up_to(outputs[0], lambda *parts: np.concatenate(parts, axis=0), *outputs)

    def _array_batches(self, x, batch_size, steps):
        """(x, batch_size) when `x` is an in-memory array predict can batch itself, else None (Keras's path)."""
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
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            return None  # let Keras report the bad value
        return x, batch_size or 32

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


def _compute_dtype(model):
    policy = getattr(model, "dtype_policy", None)
    return getattr(policy, "compute_dtype", None)


def onednn_bfloat16_available():
    """True when TensorFlow runs its oneDNN kernels and the CPU has native bfloat16 dot products."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - moved in a future TensorFlow
        return False
    return bool(_pywrap_util_port.IsMklEnabled()) and bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def _cpu_flags():
    # Read once per process (every compile() resolves "auto"). Linux only; elsewhere report none, which keeps XLA.
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _op_determinism_enabled():
    try:
        from tensorflow.python.framework.config import is_op_determinism_enabled
    except ImportError:  # pragma: no cover - moved in a future TensorFlow
        return False
    return is_op_determinism_enabled()
