"""Trains a tiny DETR with model.fit on one device and mirrored over two logical CPUs, from the same weights on
the same batches (run by test_detr_distributed.py in its own process: logical devices are fixed once TF starts).

usage: python detr_mirrored_job.py OUT_DIR  -> OUT_DIR/result.json
"""

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import keras_vit  # noqa: E402

rng = np.random.default_rng(0)
images = rng.uniform(-1, 1, size=(8, 32, 32, 3)).astype("float32")
# Each replica gets 2 consecutive images of every batch of 4; both halves hold 3 boxes, so that DETR's per-replica
# normalization (by the replica's box count) equals the single device's (by the batch's).
counts = [1, 2, 2, 1, 1, 2, 2, 1]
targets = np.full((8, 2, 5), -1.0, "float32")
for i, count in enumerate(counts):
    centres = rng.uniform(0.25, 0.75, size=(count, 2))
    sizes = rng.uniform(0.1, 0.3, size=(count, 2))
    targets[i, :count] = np.concatenate([centres, sizes, rng.integers(0, 10, size=(count, 1))], -1)

# no dropout: the two runs draw different masks
spec = keras_vit.get_spec("detr_vit_ti16_digits").tiny_spec().with_overrides(
    decoder={"name": "detr_decoder", "num_layers": 2, "num_heads": 2, "intermediate_dim": 32, "dropout_rate": 0.0})
keras.utils.set_random_seed(0)
initial = keras_vit.create(spec).get_weights()
result = {}
for name, strategy in (("single", tf.distribute.get_strategy()),
                       ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    with strategy.scope():
        model = keras_vit.create(spec)
        model.set_weights(initial)
        model.compile(keras.optimizers.SGD(0.05), jit_compile=False)
    data = tf.data.Dataset.from_tensor_slices((images, targets)).batch(4)
    history = model.fit(data, epochs=3, verbose=0, shuffle=False).history
    result[name] = {"replicas": strategy.num_replicas_in_sync, "loss": [float(v) for v in history["loss"]]}
    np.savez(Path(sys.argv[1]) / f"{name}.npz", *model.get_weights())
(Path(sys.argv[1]) / "result.json").write_text(json.dumps(result))
