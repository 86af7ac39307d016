"""Trains the same tiny recipe on one device and mirrored over two logical CPUs (run by test_mirrored.py).

usage: python mirrored_job.py OUT_DIR  -> OUT_DIR/single.npz, OUT_DIR/mirrored.npz, OUT_DIR/summaries.json
"""

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras_vit  # noqa: E402

out = Path(sys.argv[1])
TINY = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32}
summaries = {}
for name, strategy, devices in (("single", "default", None), ("mirrored", "mirrored", ["/cpu:0", "/cpu:1"])):
    summary = keras_vit.train(
        "mnist_vit", strategy=strategy, devices=devices, epochs=2, steps_per_epoch=4, eval_steps=2, batch_size=32,
        output_dir=str(out / name), tensorboard=False, verbose=0, jit_compile=False, model=TINY,
        optimizer={"name": "sgd", "learning_rate": 0.1, "weight_decay": 0.0, "global_clipnorm": 0.05}, schedule={"warmup_epochs": 1},
    )
    np.savez(out / f"{name}.npz", *summary.model.get_weights())
    summaries[name] = dict(summary)
# a global batch that does not split over the two replicas is refused before anything is written
try:
    keras_vit.train("mnist_vit", strategy="mirrored", devices=["/cpu:0", "/cpu:1"], epochs=1, batch_size=33,
                    output_dir=str(out / "odd"), model=TINY)
except keras_vit.train.StrategyError as error:
    summaries["odd_batch_error"] = str(error)
summaries["odd_batch_wrote"] = (out / "odd").exists()
(out / "summaries.json").write_text(json.dumps(summaries))
