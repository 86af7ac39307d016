"""fit's slow mode on 2 cores: `model.fit` on arrays, on a one-thread-pool dataset, and `train_on_batch`, interleaved.

    MODEL=vit_ti16 B=32 ROUNDS=8 python benchmarks/fit_on_arrays.py

One process, one compiled model; each round runs every case once (4 optimizer steps each) and prints its wall
seconds and the cores it kept busy (CPU time / wall time). Results and their reading: docs/speed.md.
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

import keras_vit

BATCH, NAME, ROUNDS = int(os.environ.get("B", 32)), os.environ.get("MODEL", "vit_ti16"), int(os.environ.get("ROUNDS", 8))


def one_thread(dataset):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return dataset.with_options(options)


model = keras_vit.create(NAME)
model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x = rng.normal(size=(BATCH, 224, 224, 3)).astype("float32")
y = rng.integers(0, 1000, size=(BATCH,))
xs, ys = np.concatenate([x] * 4), np.concatenate([y] * 4)
cases = {
    "fit_arrays": lambda: model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False, verbose=0),
    "fit_ds_1thread": lambda: model.fit(one_thread(tf.data.Dataset.from_tensor_slices((xs, ys)).batch(BATCH)), verbose=0),
    "train_on_batch": lambda: [model.train_on_batch(x, y) for _ in range(4)],
}
for run in cases.values():
    run()  # compile and warm up
results = {name: [] for name in cases}
for index in range(ROUNDS):
    for name, run in cases.items():
        start, cpu = time.perf_counter(), os.times()
        run()
        wall, after = time.perf_counter() - start, os.times()
        results[name].append((round(wall, 2), round((after.user - cpu.user + after.system - cpu.system) / wall, 2)))
    print(index, {name: values[-1] for name, values in results.items()}, flush=True)
print(json.dumps(results))
