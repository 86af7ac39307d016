"""The one place keras_vit makes a tf.distribute strategy, and the batch arithmetic that goes with it."""

import json
import os

import tensorflow as tf

from keras_vit.schema import POSITIVE_INT

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


class StrategyError(ValueError):
    """A strategy that cannot be made here, or a batch that does not fit it."""


def _device_key(name):
    spec = tf.DeviceSpec.from_string(name)
    return (spec.device_type or "").upper(), spec.device_index or 0


def _mirrored(devices):
    known = {_device_key(d.name): d.name for d in tf.config.list_logical_devices()}
    for device in devices or ():
        try:
            key = _device_key(device)
        except ValueError:
            key = None
        if key not in known:
            raise StrategyError(
                f"Device {device!r} does not exist here; the logical devices are {sorted(known.values())}. Pass "
                f"names such as '/gpu:0' or '/cpu:0'."
            )
    if not devices and not tf.config.list_logical_devices("GPU"):
        devices = ["/cpu:0"]  # mirrored over the CPU: one replica, same code path as on GPUs
    return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)


def _multi_worker():
    raw = os.environ.get("TF_CONFIG")
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        config["task"]["index"]
        if not isinstance(workers, list) or not workers:
            raise TypeError(f"cluster.worker is {workers!r}, not a non-empty list of host:port")
    except (ValueError, KeyError, TypeError) as error:
        problem = ("which is not set" if not raw else
                   f"but TF_CONFIG is not a valid cluster description ({error!r}); received {raw!r}")
        raise StrategyError(
            f"strategy 'multi_worker' reads the cluster from the TF_CONFIG environment variable, {problem}. Set it on "
            'every worker, with cluster.worker (a list of host:port) and task.type / task.index, e.g. {"cluster": '
            '{"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
        ) from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu(tpu_address):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise StrategyError(
            f"No TPU found at {tpu_address or 'the default address'} ({type(error).__name__}: {error}). Pass "
            f"tpu_address= (a name or grpc://host:port), or use strategy 'auto' / 'mirrored'."
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="auto", *, devices=None, tpu_address=None):
    """Makes a tf.distribute strategy.

    Args:
        name: "default" (no distribution: the current device), "mirrored" (all local GPUs, or `devices`; the CPU
            when there is no GPU), "multi_worker" (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG),
            "tpu" (TPUStrategy through a resolver at `tpu_address`) or "auto" (a TPU if one is configured, else
            mirrored over the GPUs if there are several, else one GPU or the CPU with the default strategy).
        devices: device names for "mirrored", e.g. ["/gpu:0", "/gpu:1"] or ["/cpu:0", "/cpu:1"].
        tpu_address: TPU name or grpc://host:port for "tpu" (also used by "auto").

    Returns:
        A `tf.distribute.Strategy`; build and compile the model inside `strategy.scope()`.
    """
    if name not in STRATEGIES:
        from keras_vit.registry import suggest

        raise StrategyError(f"Unknown strategy {name!r}.{suggest(str(name), STRATEGIES)} Known: {', '.join(STRATEGIES)}.")
    if devices and name != "mirrored":
        raise StrategyError(f"devices= applies to strategy 'mirrored' only; received strategy {name!r}.")
    if name == "auto":  # the environment before the devices: a multi-worker strategy must come first in a process
        if tpu_address or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            name = "tpu"
        elif os.environ.get("TF_CONFIG"):
            name = "multi_worker"
        else:
            several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
            name = "tpu" if tf.config.list_logical_devices("TPU") else "mirrored" if several_gpus else "default"
    makers = {"default": tf.distribute.get_strategy, "mirrored": lambda: _mirrored(devices),
              "multi_worker": _multi_worker, "tpu": lambda: _tpu(tpu_address)}
    return makers[name]()


def global_batch_size(per_replica_batch_size, strategy):
    """Global batch = per-replica batch x replicas in sync."""
    return POSITIVE_INT.check("per_replica_batch_size", per_replica_batch_size) * strategy.num_replicas_in_sync


def check_global_batch(batch_size, strategy):
    """Raises StrategyError unless the global `batch_size` splits evenly over the strategy's replicas."""
    replicas = strategy.num_replicas_in_sync
    if POSITIVE_INT.check("batch_size", batch_size) % replicas:
        lower, upper = batch_size // replicas * replicas, -(-batch_size // replicas) * replicas
        raise StrategyError(
            f"The global batch size {batch_size} does not divide evenly over the {replicas} replicas of "
            f"{type(strategy).__name__}: use a multiple of {replicas} (e.g. {lower or replicas} or {upper}), or give "
            f"a per-replica batch size."
        )
    return batch_size // replicas


def is_chief(strategy=None):
    """True on the worker that writes checkpoints and logs (always True outside multi-worker training)."""
    strategy = strategy or tf.distribute.get_strategy()
    return not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or bool(strategy.extended.should_checkpoint)


def default_jit_compile(model, strategy):
    """What a recipe's `jit_compile: auto` means: XLA for the training step, also on CPU, where it measured faster
    for ViTs (docs/speed.md), except under a strategy of several replicas (Keras's own choice there) and for
    `mixed_bfloat16` on a CPU whose oneDNN bfloat16 kernels beat XLA's CPU backend. Keras's `jit_compile` setter
    still turns it off for a model with a layer that does not support XLA."""
    if strategy.num_replicas_in_sync > 1:
        return False
    if any(device.device_type != "CPU" for device in tf.config.list_physical_devices()):
        return True
    return not (model.dtype_policy.compute_dtype == "bfloat16" and onednn_bfloat16_available())


def onednn_bfloat16_available():
    """True when TensorFlow runs its oneDNN kernels and the CPU has native bfloat16 dot products.

    oneDNN follows the documented `TF_ENABLE_ONEDNN_OPTS` switch; unset, TensorFlow's x86 Linux builds turn it on for
    CPUs with AVX512_VNNI, AVX512_BF16 or AMX, so on every CPU with bfloat16 instructions.
    """
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: keep XLA
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))
