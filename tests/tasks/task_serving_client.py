"""Runs in a fresh Python process that cannot import keras_vit: calls the task SavedModels with TensorFlow alone.

usage: python task_serving_client.py REQUESTS.json
REQUESTS.json: [{"path": saved model folder, "input": images.npy (uint8), "output": out.npz}]
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
    signatures = {}
    for request in requests:
        inputs = signatures.setdefault(request["path"], tf.saved_model.load(request["path"]).signatures)
        signature = inputs["serving_default"]
        result = signature(input_tensor=tf.constant(np.load(request["input"])))
        np.savez(request["output"], **{key: value.numpy() for key, value in result.items()},
                 input_spec=repr(signature.structured_input_signature))
    imported = sorted(name for name in sys.modules if name.split(".")[0] == "keras_vit")
    print(json.dumps({"keras_vit_modules": imported}))


if __name__ == "__main__":
    main(sys.argv[1])
