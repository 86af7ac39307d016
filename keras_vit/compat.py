"""The one module that touches private Keras internals: workarounds for upstream bugs and gaps, each named.

Verified on Keras 3.15.1 with TensorFlow 2.21. `tests/test_compat.py` fails when a private name used here disappears,
or when the upstream behaviour that a workaround exists for is fixed (then delete the workaround).

1. keras-team/keras#20585: `model.fit` under `MultiWorkerMirroredStrategy` fails in two places of Keras's TensorFlow
   trainer. Before the first step `_maybe_symbolic_build` MEAN-reduces the first distributed batch across workers
   (raw images and integer labels) only to read its shapes; after each step the per-replica logs are reduced with
   `strategy.reduce("MEAN", value, axis=0)`, which needs a dimension 0 that scalar losses and metrics lack.
   `DistributedStepsMixin` builds from the first local replica's batch instead (shapes are the same on every
   replica) and gives every log value a dimension of size 1 while training on several workers.
2. Gradient clipping before the cross-replica sum (the ordering tensorflow/tensorflow#25806 describes for tf.keras,
   unchanged in Keras 3.15): `BaseOptimizer._backend_apply_gradients` clips each replica's gradient, then the
   TensorFlow optimizer sums them in `_all_reduce_sum_gradients`, so with N replicas `global_clipnorm=1` allows a
   summed gradient of norm N, and a run differs from a single-device run as soon as clipping is active.
   `ClipAfterCrossReplicaSum` sums first (the same all-reduce Keras would do next, done once), then clips.
3. No public API maps the raw `tf.Variable` that `Optimizer.update_step` receives to its Keras variable; Keras's own
   optimizers use `_get_variable_index` there (`optimizer_variable_path`).
4. No public API lists a layer's nested sublayers (a Dense inside a TransformerBlock's MSA); Keras's own
   `Model.quantize` walks them with `_flatten_layers` (`nested_layers`).
"""

import threading

import keras


def zoo_model_bases():
    """The workaround mixins a zoo model needs on the running Keras backend (item 1 is TensorFlow's alone)."""
    return (DistributedStepsMixin,) if keras.backend.backend() == "tensorflow" else ()


def in_multi_worker_mode(strategy):
    """True under a MultiWorkerMirroredStrategy whose cluster (TF_CONFIG) has several chief or worker tasks."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return len(cluster.get("chief", ())) + len(cluster.get("worker", ())) > 1


class DistributedStepsMixin:
    """Put before `keras.Model` in a model's bases: `fit`/`evaluate` under MultiWorkerMirroredStrategy (item 1)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        import tensorflow as tf

        if iterator is not None and data_batch is None and in_multi_worker_mode(self.distribute_strategy):
            local_results = self.distribute_strategy.experimental_local_results
            _, _, it = next(iter(iterator))  # the first (step, step, data iterator) of the epoch, as Keras reads it
            data_batch = tf.nest.map_structure(lambda value: local_results(value)[0], next(it))
            return super()._maybe_symbolic_build(data_batch=data_batch)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _with_reduction_axis(self, logs):
        if not in_multi_worker_mode(self.distribute_strategy):
            return logs
        import tensorflow as tf

        return tf.nest.map_structure(lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, logs)

    def train_step(self, data):
        return self._with_reduction_axis(super().train_step(data))

    def test_step(self, data):
        return self._with_reduction_axis(super().test_step(data))


class ClipAfterCrossReplicaSum:
    """Put before a `keras.optimizers.Optimizer` in the bases: clipping applies to the cross-replica sum (item 2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # MirroredStrategy traces each replica in its own thread: the flag must be per thread.
        self._summed = threading.local()

    def _clip_gradients(self, grads):
        import tensorflow as tf

        clipping = self.clipnorm or self.global_clipnorm or self.clipvalue
        context = tf.distribute.get_replica_context() if tf.distribute.has_strategy() else None
        if clipping and context is not None and context.num_replicas_in_sync > 1:
            summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g in grads if g is not None]))
            grads = [None if g is None else next(summed) for g in grads]
            self._summed.before_clipping = True  # read by _all_reduce_sum_gradients in this same trace
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if getattr(self._summed, "before_clipping", False):
            self._summed.before_clipping = False
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


def optimizer_variable_path(optimizer, variable):
    """The Keras path of `variable` as `optimizer.update_step` receives it (a raw tf.Variable under TensorFlow)."""
    return optimizer._trainable_variables[optimizer._get_variable_index(variable)].path


def nested_layers(layer):
    """`layer` and every layer inside it, at any depth (what `Model.quantize` visits)."""
    return list(layer._flatten_layers(include_self=True, recursive=True))
