"""Compiled speed on the default path: zoo models use XLA for `predict`, `fit` and `evaluate` without being asked.

Keras's `jit_compile="auto"` turns XLA on only when an accelerator is present; on CPUs XLA measured faster for ViTs
(figures in docs/speed.md). `CompiledDefaults`, a base of every `ZooModel`, changes what "auto" means for zoo
models, through public Keras API only:

- A new zoo model, and `model.compile(...)` with jit_compile left at "auto", use XLA whenever every layer supports
  it (`layer.supports_jit`) and op determinism is off, also on CPU. Under a tf.distribute strategy Keras's own
  choice stands (no XLA).
- Except `mixed_bfloat16` on a CPU with bfloat16 instructions (AVX512_BF16 or AMX) and TensorFlow's oneDNN
  kernels on (`TF_ENABLE_ONEDNN_OPTS`, on by default there): oneDNN's bfloat16 matmuls beat XLA's CPU backend, so
  "auto" means no XLA.
- An explicit `model.compile(..., jit_compile=False)` (or `run_eagerly=True`) always wins.
- `predict` on an in-memory array runs the same batches through `predict_on_batch` instead of building Keras's
  tf.data pipeline and iterator on every call.
- A layer XLA cannot compile (a plugin calling `tf.py_function`, say) does not break anything: a `predict_on_batch`
  (so `predict` on an array) that fails to compile reruns the same batch without XLA, and `fit`, `evaluate`,
  `train_on_batch`, `test_on_batch` and `predict` on other inputs lower the forward pass to XLA's HLO once before
  their first step (no data consumed) and run without XLA if that fails. Either way one warning says so, and
  `model.jit_compile` becomes False.

    >>> model = keras_vit.create("vit_ti16", num_classes=10)
    >>> model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    >>> model.jit_compile
    True
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings

import keras
import tensorflow as tf

# Words in the TensorFlow error raised when a graph cannot be compiled with XLA ("Detected unsupported operations
# when trying to compile graph ... on XLA_CPU_JIT: PyFuncStateless (No registered 'PyFuncStateless' OpKernel for
# XLA_CPU_JIT devices ...").
_XLA_FAILURE_MARKERS = ("XLA_", "unsupported operations", "XLA compilation", "xla")
_XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError)
# predict() slices arrays up to this size itself (a larger one takes Keras's own path).
_MAX_INLINE_BYTES = 1 << 30


def is_xla_compile_error(error):
    """True when `error` (an exception) reports that TensorFlow could not compile a graph with XLA."""
    text = str(error)
    return any(marker in text for marker in _XLA_FAILURE_MARKERS)


@contextlib.contextmanager
def _quiet_jit_downgrade():
    # Keras's `jit_compile` setter turns True into False, with this warning, when a layer lacks `supports_jit` or op
    # determinism is on: for the default that is the intended outcome, not news.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Model doesn't support `jit_compile=True`")
        yield


def _under_strategy(model):
    """True for a model made in, or used in, a tf.distribute strategy's scope."""
    return tf.distribute.has_strategy() or model.distribute_strategy is not tf.distribute.get_strategy()


class CompiledDefaults:
    """Mixin for `keras.Model` subclasses (TensorFlow backend): XLA by default, with a clean fallback.

    The user-facing switch is Keras's own `jit_compile`; `_set_default_jit_compile()` gives it the zoo's default once
    the model is built, and `compile()` resolves "auto" to the same default.
    """

    _xla_checked = frozenset()  # the modes (training True / False) whose XLA lowering was checked

    def compile(self, *args, jit_compile="auto", **kwargs):
        if jit_compile != "auto" or kwargs.get("run_eagerly"):
            return super().compile(*args, jit_compile=jit_compile, **kwargs)
        with _quiet_jit_downgrade():
            return super().compile(*args, jit_compile=self._default_jit_compile(), **kwargs)

    def compile_from_config(self, config):
        # Keras restores a saved model's compile() only for models that do not override compile(): do it here, as
        # Keras 3.15's Trainer.compile_from_config does, so a loaded `.keras` file comes back compiled.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _set_default_jit_compile(self):
        """Sets `jit_compile` to what "auto" means for zoo models (module doc)."""
        with _quiet_jit_downgrade():
            self.jit_compile = self._default_jit_compile()

    def _default_jit_compile(self):
        # Keras's setter then also drops XLA for a layer without `supports_jit` or with op determinism on.
        if _under_strategy(self):
            return False  # Keras disables XLA with tf.distribute; keep its choice.
        if any(device.device_type != "CPU" for device in tf.config.list_physical_devices()):
            return True  # Keras's own "auto" on an accelerator
        # oneDNN's bfloat16 kernels beat XLA on such a CPU (module doc).
        return not (self.dtype_policy.compute_dtype == "bfloat16" and onednn_bfloat16_available())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        # Keras turns an in-memory array into a tf.data pipeline of index slicing, flat_map and map and builds a new
        # distributed iterator on every call (0.04-0.1 s on 2 CPU cores: 7% of a TNT-S batch of 8). Without
        # callbacks, an array is cut into the same batches here and each runs through `predict_on_batch`; with
        # callbacks, a plain sliced dataset keeps the order.
        batched = self._array_batches(x, batch_size, steps)
        if batched is None or callbacks is not None:
            self._check_xla_lowering(training=False)  # Keras's loop: a batch that fails to compile is spent
        if batched is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        x, batch_size = batched
        if callbacks is not None:
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
        import numpy as np

        if steps is not None or _under_strategy(self):
            return None  # Keras distributes its own pipeline
        if not isinstance(x, (np.ndarray, tf.Tensor)) or len(x.shape) == 0 or None in tuple(x.shape):
            return None
        if int(np.prod(x.shape)) * np.dtype(getattr(x.dtype, "as_numpy_dtype", x.dtype)).itemsize > _MAX_INLINE_BYTES:
            return None
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            return None  # let Keras report the bad value
        return x, batch_size or 32

    def predict_on_batch(self, x):
        # A failing XLA compile raises before anything runs, and the batch is still in hand: rerun it without XLA.
        try:
            return super().predict_on_batch(x)
        except _XLA_ERRORS as e:
            if not (self.jit_compile and is_xla_compile_error(e)):
                raise
            self._fall_back_from_xla(e)
            return super().predict_on_batch(x)

    # fit/evaluate read their batches inside the compiled graph: check before the first step instead.
    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_xla_lowering(training=True)
        dataset = None if args else self._array_dataset(x, y, kwargs)
        if dataset is not None:
            x, y = dataset, None  # it batches and shuffles as asked
            kwargs = {k: v for k, v in kwargs.items() if k not in ("batch_size", "shuffle")}
        if isinstance(x, tf.data.Dataset) and not args and "shuffle" not in kwargs:
            # Keras 3.15 warns about its own default shuffle=True, which it ignores for a dataset.
            kwargs["shuffle"] = False
        return super().fit(x, y, *args, **kwargs)

    def _array_dataset(self, x, y, kwargs):
        """`keras_vit.data.arrays.array_batches` for fit's in-memory arrays; None where Keras's own pipeline is
        needed (a strategy, sample or class weights, a validation split, steps)."""
        import numpy as np

        from keras_vit.data.arrays import array_batches

        batch_size, shuffle = kwargs.get("batch_size"), kwargs.get("shuffle", True)
        if _under_strategy(self) or not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or len(x) != len(y):
            return None
        if any(kwargs.get(k) for k in ("validation_split", "sample_weight", "class_weight", "steps_per_epoch")):
            return None
        if not isinstance(shuffle, bool) or (batch_size is not None and (
                isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1)):
            return None  # shuffle="batch", or a bad batch size for Keras to report
        return array_batches(x, y, batch_size or 32, shuffle)

    def train_on_batch(self, *args, **kwargs):
        self._check_xla_lowering(training=True)
        return super().train_on_batch(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._check_xla_lowering(training=False)
        return super().evaluate(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        self._check_xla_lowering(training=False)
        return super().test_on_batch(*args, **kwargs)

    def _check_xla_lowering(self, training):
        """Lowers the forward pass to HLO once per mode (no execution, no data); falls back if that fails."""
        if self.run_eagerly or not self.jit_compile or training in self._xla_checked:
            return
        specs = []
        for tensor in self.inputs or []:
            shape = (1, *tuple(tensor.shape)[1:])
            if any(dim is None for dim in shape):
                return  # no static shape to lower with; rely on Keras
            specs.append(tf.TensorSpec(shape, tensor.dtype))
        if not specs:
            return
        self._xla_checked = self._xla_checked | {training}
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
            stacklevel=4,
        )
        self.jit_compile = False
        # Functions already built with XLA are rebuilt without it on their next use.
        self.train_function = self.test_function = self.predict_function = None


def onednn_bfloat16_available():
    """True when TensorFlow runs its oneDNN kernels and the CPU has native bfloat16 dot products.

    oneDNN follows the documented `TF_ENABLE_ONEDNN_OPTS` switch; unset, TensorFlow's x86 Linux builds turn it on for
    CPUs with AVX512_VNNI, AVX512_BF16 or AMX, so on every CPU with bfloat16 instructions.
    """
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false"):
        return False
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


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
