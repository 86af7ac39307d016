"""Runs in a fresh Python process that cannot import keras_vit: calls the task SavedModels with TensorFlow alone.

usage: python task_serving_client.py REQUESTS.json
REQUESTS.json: [{"path": saved model folder, "input": images.npy (uint8), "output": out.npz}]
"""

import json
import pathlib
import sys

# The classifier's serving client blocks every import of keras_vit when it loads: the SavedModel must serve with
# TensorFlow alone.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "export"))
import numpy as np  # noqa: E402
import serving_client  # noqa: E402,F401
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
