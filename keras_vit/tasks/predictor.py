"""A served or saved task model as one function: uint8 images -> the outputs of its serving contract.

Evaluation runs every model through the same contract as serving (keras_vit.tasks.serving): a SavedModel's own
`serving_default`, or the signature a `.keras` task model publishes, so a score measures what a client would get.
"""

import dataclasses
import os

import numpy as np

from keras_vit.tasks.serving import DETECTION_OUTPUTS, SEGMENTATION_OUTPUTS


@dataclasses.dataclass(frozen=True)
class Predictor:
    """predict(images uint8 (batch, H, W, 3)) -> {output: NumPy array}; task "detector" or "segmenter"; source:
    the file or folder it came from."""

    predict: object
    task: str
    source: str


def _saved_model_folder(path):
    """`path` itself when it holds saved_model.pb, else its highest integer version folder that does."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(n) for n in os.listdir(path) if n.isdigit()
                       and os.path.isfile(os.path.join(path, n, "saved_model.pb"))), reverse=True)
    return os.path.join(path, str(versions[0])) if versions else None


def load_predictor(path):
    """A task model from a SavedModel folder (a version folder, or the model's folder: its newest version), a
    `.keras` file, or a run folder holding model.keras.

    Raises:
        FileNotFoundError: nothing of these at `path`.
        ValueError: a model that is not a detector or a segmenter (a classifier, say).
    """
    import tensorflow as tf

    path = os.fspath(path)
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "model.keras")):
        folder = _saved_model_folder(path)
        if folder is None:
            raise FileNotFoundError(f"{path!r} holds no SavedModel (saved_model.pb, or version folders 1/, 2/, ... "
                                    "with one), and no model.keras (a run folder).")
        signature = tf.saved_model.load(folder).signatures.get("serving_default")
        names = set(signature.structured_outputs) if signature is not None else set()
        task = next((t for t, o in (("detector", DETECTION_OUTPUTS), ("segmenter", SEGMENTATION_OUTPUTS))
                     if set(o) <= names), None)
        if task is None:
            raise ValueError(f"the SavedModel {folder!r} is not a task model's export: its serving_default returns "
                             f"{sorted(names)}, neither a detector's {list(DETECTION_OUTPUTS)} nor a segmenter's "
                             f"{list(SEGMENTATION_OUTPUTS)}.")
        return Predictor(lambda images: {k: v.numpy() for k, v in signature(input_tensor=tf.constant(images)).items()},
                         task, folder)
    file = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{path!r} not found (a SavedModel folder, a .keras file or a run folder).")
    import keras

    from keras_vit.export.formats import serving_preprocessing

    try:
        model = keras.saving.load_model(file, compile=False)
    except Exception as error:  # Keras reports a truncated file as "file not found": say what it is
        raise ValueError(f"could not load the Keras model file {file!r} ({type(error).__name__}: {error}).") from None
    if not hasattr(model, "serving_signatures"):
        raise ValueError(f"{file!r} holds {model.name!r}, not a detector or a segmenter (keras_vit.tasks).")
    contract = model.serving_signatures(serving_preprocessing(model), jit_compile=False)
    task = "detector" if contract.OUTPUTS == DETECTION_OUTPUTS else "segmenter"
    return Predictor(lambda images: {k: np.asarray(v) for k, v in contract.serving_default(tf.constant(images)).items()},
                     task, file)
