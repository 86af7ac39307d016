"""A keras.Model mixin that makes `model.fit` / `model.evaluate` work under MultiWorkerMirroredStrategy.

Keras 3.15 (keras-team/keras issue #20585) breaks multi-worker training in two places, both in its TensorFlow
trainer:

1. Before the first step, `fit` builds metrics and losses from a "symbolic" first batch that it gets by
   all-reducing (MEAN) the first distributed batch across workers, a collective over the raw images and integer
   labels that fails (or hangs) and is not needed: only shapes and dtypes are used.
2. After each step, the per-replica logs are reduced with `strategy.reduce("MEAN", value, axis=0)`, which needs a
   dimension 0 that scalar losses and metrics do not have.

The fix: take the first local replica's batch for the symbolic build (shapes are the same on every replica), and
give every log value a dimension of size 1 in `train_step` / `test_step` while training on several workers, so that
the cross-worker reduction has an axis to reduce. Outside multi-worker training nothing changes.
"""

from __future__ import annotations

import tensorflow as tf


def in_multi_worker_mode(strategy):
    """True under a MultiWorkerMirroredStrategy that spans several workers (TF_CONFIG with a cluster)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return bool(in_mode()) if callable(in_mode) else True


def _first_local_value(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


class DistributedStepsMixin:
    """Put before `keras.Model` in a model's bases; see the module docstring for what it fixes."""

    def _multi_worker(self):
        return in_multi_worker_mode(self.distribute_strategy)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and data_batch is None and self._multi_worker():
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(_first_local_value, next(it))
                break
            return super()._maybe_symbolic_build(data_batch=data_batch)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _with_reduction_axis(self, logs):
        if not self._multi_worker():
            return logs
        return tf.nest.map_structure(lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, logs)

    def train_step(self, data):
        return self._with_reduction_axis(super().train_step(data))

    def test_step(self, data):
        return self._with_reduction_axis(super().test_step(data))
