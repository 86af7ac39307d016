"""Runs in a fresh Python process that cannot import keras_vit: loads SavedModels with tf.saved_model.load only.

usage: python serving_client.py REQUESTS.json
REQUESTS.json: [{"path": saved model folder, "calls": [{"signature": ..., "input": file.npy or [png/jpeg files],
"output": out.npz}]}]
"""

import importlib.abc
import json
import sys


class BlockKerasVit(importlib.abc.MetaPathFinder):
    """Fails every import of keras_vit: the SavedModel must serve with TensorFlow alone."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "keras_vit" or fullname.startswith("keras_vit."):
            raise ImportError(f"keras_vit is blocked in this process (tried to import {fullname})")
        return None


sys.meta_path.insert(0, BlockKerasVit())

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(requests_file):
    with open(requests_file) as file:
        requests = json.load(file)
    for request in requests:
        loaded = tf.saved_model.load(request["path"])
        for call in request["calls"]:
            signature = loaded.signatures[call["signature"]]
            if call["signature"] == "serving_bytes":
                encoded = []
                for name in call["input"]:
                    with open(name, "rb") as image_file:
                        encoded.append(image_file.read())
                result = signature(image_bytes=tf.constant(encoded))
            else:
                result = signature(images=tf.constant(np.load(call["input"])))
            arrays = {key: value.numpy() for key, value in result.items()}
            # String outputs (top_k_labels) come back as object arrays of bytes: store them as text.
            arrays = {k: v.astype(bytes).astype(str) if v.dtype == object else v for k, v in arrays.items()}
            np.savez(call["output"], **arrays)
    imported = sorted(name for name in sys.modules if name.split(".")[0] == "keras_vit")
    print(json.dumps({"keras_vit_modules": imported}))


if __name__ == "__main__":
    main(sys.argv[1])
