"""One worker of a two-worker MultiWorkerMirroredStrategy job on localhost (run by test_multi_worker.py).

usage: python multi_worker_job.py {fit,train} OUT_DIR   (TF_CONFIG set by the caller)
Writes OUT_DIR/weights_<task index>.npz with the final weights, and OUT_DIR/initial_<index>.npz for `fit`.
"""

import json
import os
import sys

import numpy as np


def user_fit(out_dir, index):
    import keras
    import tensorflow as tf

    import keras_vit
    from keras_vit.testing import randomize_weights

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first: before any other TensorFlow work
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras_vit.create("vit_ti16", image_size=16, patch_size=8, num_channels=1, hidden_dim=16,
                                 num_layers=1, num_heads=2, intermediate_dim=32, num_classes=4)
        randomize_weights(model, seed=1)
        model.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    np.savez(os.path.join(out_dir, f"initial_{index}.npz"), *model.get_weights())
    rng = np.random.default_rng(0)  # the same data on both workers; tf.distribute shards it
    images = rng.normal(size=(64, 16, 16, 1)).astype("float32")
    labels = rng.integers(0, 4, size=(64,))
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    history = model.fit(dataset, epochs=2, steps_per_epoch=3, verbose=0)
    results = model.evaluate(dataset, steps=2, verbose=0, return_dict=True)
    np.savez(os.path.join(out_dir, f"weights_{index}.npz"), *model.get_weights())
    with open(os.path.join(out_dir, f"logs_{index}.json"), "w") as f:
        json.dump({"loss": [float(v) for v in history.history["loss"]], "eval": results,
                   "steps": int(model.optimizer.iterations.numpy())}, f)


def recipe_train(out_dir, index):
    import keras_vit

    summary = keras_vit.train(
        "mnist_vit", strategy="multi_worker", epochs=2, steps_per_epoch=3, eval_steps=2, batch_size=16,
        output_dir=os.path.join(out_dir, "run"), tensorboard=False, verbose=0, jit_compile=False,
        model={"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32},
    )
    np.savez(os.path.join(out_dir, f"weights_{index}.npz"), *summary.model.get_weights())
    with open(os.path.join(out_dir, f"summary_{index}.json"), "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    mode, out_dir = sys.argv[1], sys.argv[2]
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    {"fit": user_fit, "train": recipe_train}[mode](out_dir, index)
