"""Runs the tiny zoo on the Keras backend of its environment (KERAS_BACKEND=jax or torch), in a process of its own.

    KERAS_BACKEND=jax python tests/backend_worker.py DIR NAME [NAME ...]

For each zoo name, with DIR/NAME.tensorflow.keras and DIR/NAME.tensorflow.npz written by the TensorFlow backend
(tests/test_backends.py): loads that file and predicts the same images; builds the tiny spec itself, predicts, trains
three epochs with `model.fit` on a repeated batch, saves `DIR/NAME.<backend>.keras` and loads it back. Writes
DIR/results.<backend>.json: per name, the checks' numbers or the error, and whether TensorFlow was ever imported.
TensorFlow cannot be imported here, as on a machine without it (the common GPU machine with only JAX or PyTorch).
"""

import json
import sys
import traceback

# None in sys.modules makes `import tensorflow` raise ModuleNotFoundError and importlib.util.find_spec answer None.
sys.modules["tensorflow"] = None

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vit  # noqa: E402
from keras_vit.testing import randomize_weights  # noqa: E402


def check(directory, name):
    backend = keras.backend.backend()
    saved = np.load(f"{directory}/{name}.tensorflow.npz")
    images, expected = saved["images"], saved["outputs"]
    loaded = keras.saving.load_model(f"{directory}/{name}.tensorflow.keras", compile=False)
    result = {"tensorflow_file_max_diff": float(np.max(np.abs(np.asarray(loaded.predict(images, verbose=0)) - expected)))}

    model = keras_vit.create(keras_vit.get_spec(name).tiny_spec())
    randomize_weights(model)
    outputs = np.asarray(model.predict(images, verbose=0))
    result["output_std"] = float(np.std(outputs))
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = np.arange(len(images)) % outputs.shape[-1]
    result["losses"] = [float(v) for v in model.fit(images, labels, epochs=3, batch_size=len(images),
                                                    verbose=0).history["loss"]]
    trained = np.asarray(model.predict(images, verbose=0))
    path = f"{directory}/{name}.{backend}.keras"
    model.save(path)
    np.savez(f"{directory}/{name}.{backend}.npz", images=images, outputs=trained)
    reloaded = keras.saving.load_model(path, compile=False)
    result["round_trip_max_diff"] = float(np.max(np.abs(np.asarray(reloaded.predict(images, verbose=0)) - trained)))
    return result


def main(directory, names):
    results = {}
    for name in names:
        try:
            results[name] = check(directory, name)
        except Exception:  # noqa: BLE001 - one family's failure is reported with the others'
            results[name] = {"error": traceback.format_exc()}
    results["_meta"] = {"backend": keras.backend.backend(), "tensorflow_imported": sys.modules["tensorflow"] is not None}
    with open(f"{directory}/results.{keras.backend.backend()}.json", "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
