"""fit's batches from in-memory arrays (benchmarks/arrays.py)."""

import json
import mmap
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from benchmarks import arrays
from benchmarks.arrays import array_batches, gather_rows


def _rows(n):
    return np.arange(n * 6, dtype="float32").reshape(n, 2, 3), np.arange(n, dtype="int32")


def test_unshuffled_batches_are_consecutive_rows_with_the_remainder_last():
    x, y = _rows(10)
    batches = [(a.numpy(), b.numpy()) for a, b in array_batches(x, y, batch_size=4, shuffle=False)]
    assert [len(b) for _, b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([a for a, _ in batches]), x)
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]), y)


def test_shuffled_batches_hold_every_row_once_in_a_new_order_each_epoch():
    x, y = _rows(64)
    dataset = array_batches(x, y, batch_size=16, shuffle=True)
    orders = []
    for _ in range(2):
        images, labels = zip(*[(a.numpy(), b.numpy()) for a, b in dataset])
        labels = np.concatenate(labels)
        np.testing.assert_array_equal(np.concatenate(images), x[labels])  # images stay with their labels
        assert sorted(labels) == list(range(64))
        orders.append(labels)
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], y)


def test_large_batches_live_in_their_own_page_aligned_mapping():
    x = np.random.default_rng(0).normal(size=(40, 64, 64, 3)).astype("float32")  # 49 KiB a row
    index = np.array([39, 0, 7, 7, 21] * 5)
    batch = gather_rows(x, index)
    np.testing.assert_array_equal(batch, x[index])
    assert batch.nbytes >= arrays._OWN_MAPPING_BYTES
    base = batch
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base.obj if isinstance(base, memoryview) else base, mmap.mmap)
    assert batch.ctypes.data % mmap.PAGESIZE == 0
    small = gather_rows(x, index[:2])
    np.testing.assert_array_equal(small, x[index[:2]])


_FIT_FOR_TEN_EPOCHS = """
import json, mmap, keras, numpy as np, keras_vit

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * mmap.PAGESIZE / 2**20

keras.utils.set_random_seed(0)
model = keras_vit.create("vit_ti16", image_size=256, patch_size=64, num_classes=2, hidden_dim=16, num_layers=1,
                         num_heads=1, intermediate_dim=16)
model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.default_rng(0).uniform(size=(64, 256, 256, 3)).astype("float32")  # batches of 32: 24 MiB
after_epoch = []
record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: after_epoch.append(rss_mb()))
model.fit(x, np.arange(64) % 2, batch_size=32, epochs=10, verbose=0, callbacks=[record])
print(json.dumps(after_epoch))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_fit_on_arrays_does_not_grow_with_every_epoch():
    # Batches gathered by NumPy's malloc on each epoch's new pipeline thread stayed in glibc's per-thread arenas:
    # the process grew by about one batch (24 MiB here) per epoch. A process of its own, with TensorFlow's default
    # allocator (the tests' system allocator puts TensorFlow's own batch copies into those arenas too).
    env = {k: v for k, v in os.environ.items() if k != "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"}
    result = subprocess.run([sys.executable, "-c", _FIT_FOR_TEN_EPOCHS], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    after_epoch = json.loads(result.stdout.strip().splitlines()[-1])
    assert after_epoch[-1] - after_epoch[2] < 2 * 24, f"RSS after each epoch {[round(v) for v in after_epoch]} MB"


def test_fit_on_a_dataset_or_arrays_does_not_warn_about_shuffling():
    # Keras 3.15 warns "`shuffle=True` was passed, but will be ignored" for every dataset given with its default
    # shuffle=True; the zoo's own array pipeline is such a dataset.
    model = keras_vit.create("vit_ti16", image_size=32, patch_size=16, num_classes=2, hidden_dim=8, num_layers=1,
                             num_heads=1, intermediate_dim=8)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = np.zeros((4, 32, 32, 3), "float32"), np.arange(4) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=2, verbose=0)
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(2), verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)], [str(w.message) for w in caught]
