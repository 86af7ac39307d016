"""`fit`'s batches from in-memory arrays: a tf.data pipeline that slices them without copying them.

Zoo models' `fit(x, y)` once used `array_batches` instead of Keras's own pipeline for arrays (docs/speed.md, "fit
on arrays"): the same batches in the same order, on one private thread. Kept beside benchmarks/fit_on_arrays.py for
the measurements there.

    >>> images, labels = np.zeros((100, 28, 28, 1), "float32"), np.arange(100) % 10
    >>> [tuple(x.shape) for x, y in array_batches(images, labels, batch_size=32, shuffle=True)]
    [(32, 28, 28, 1), (32, 28, 28, 1), (32, 28, 28, 1), (4, 28, 28, 1)]
"""

from __future__ import annotations

import mmap

import numpy as np
import tensorflow as tf

# Batches at least this large get memory of their own from the operating system (`gather_rows`).
_OWN_MAPPING_BYTES = 1 << 20


def gather_rows(array, index):
    """`array[index]` (a NumPy array, rows picked by an integer vector) in fresh pages that go back to the system.

    A batch gathered by NumPy comes from glibc's malloc on the pipeline's thread; once a freed batch has raised
    glibc's dynamic mmap threshold, later batches come from per-thread arenas that keep them, and a new pipeline
    thread every epoch made `fit` grow by about one batch per epoch (docs/speed.md, "fit on arrays"). An anonymous
    mapping of its own is unmapped when TensorFlow releases the batch, and its page alignment lets TensorFlow use the
    batch without copying it.
    """
    index = np.asarray(index)
    shape = (len(index),) + array.shape[1:]
    nbytes = int(np.prod(shape)) * array.dtype.itemsize
    if nbytes < _OWN_MAPPING_BYTES:
        return array[index]
    out = np.frombuffer(mmap.mmap(-1, nbytes), dtype=array.dtype).reshape(shape)
    # mode="clip" writes straight into `out` (the default mode gathers into a temporary first); the indices come
    # from range(len(array)).
    return np.take(array, index, axis=0, out=out, mode="clip")


def array_batches(x, y, batch_size, shuffle):
    """A dataset of (x, y) batches of `batch_size` rows, reshuffled every epoch when `shuffle`, as Keras cuts them.

    Args:
        x: NumPy array (N, ...), e.g. images (N, H, W, C).
        y: NumPy array (N, ...) of labels.
        batch_size: rows per batch; the last batch holds the remainder.
        shuffle: a new permutation of the rows every epoch (every new iterator).

    Keras's pipeline runs on TensorFlow's shared thread pools, next to the compiled step: on 2 cores its epochs fell
    into a slow mode with a core partly idle in some rounds, where the same batches from a one-thread private pool
    never did (docs/speed.md). NumPy slices the batches from the caller's arrays inside the pipeline: a graph constant
    would hold a copy of all of them.
    """
    indices = tf.data.Dataset.range(len(x))
    if shuffle:
        indices = indices.shuffle(len(x), reshuffle_each_iteration=True)

    def cut(index):
        images, labels = tf.numpy_function(lambda i: (gather_rows(x, i), y[i]), [index], (x.dtype, y.dtype),
                                           stateful=False)
        images.set_shape((None,) + x.shape[1:])
        labels.set_shape((None,) + y.shape[1:])
        return images, labels

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return indices.batch(batch_size).map(cut).with_options(options)
