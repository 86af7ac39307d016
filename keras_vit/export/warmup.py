"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in a version folder.

TF Serving replays these requests when it loads a version, before it reports the version as available, so the
first client request does not pay for XLA compilation (which happens once per batch size). The file is a TFRecord
of `tensorflow.serving.PredictionLog` protos; writing it needs `tensorflow-serving-api`.
"""

import os

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(folder, model_name, signatures, batch_sizes):
    """Writes one PredictRequest per (signature, batch size) under `folder`/assets.extra/: mid-gray images at the
    signatures' `image_shape` (an encoded PNG for a string input).

    Args:
        folder: the SavedModel folder (before it is renamed into place).
        model_name: the served model name.
        signatures: the exported signatures (their `endpoints()` and `image_shape`).
        batch_sizes: the batch sizes clients will send, e.g. (1, 8).
    """
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        raise ImportError(
            "export: warm-up requests need tensorflow-serving-api: `pip install tensorflow-serving-api` "
            "(or `pip install keras-vit[serving]`), or export without warmup_batch_sizes."
        ) from None
    import numpy as np
    import tensorflow as tf

    sizes = [int(b) for b in batch_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"export: warmup_batch_sizes must be positive ints; received {batch_sizes!r}.")
    png = tf.io.encode_png(np.full(signatures.image_shape, 128, "uint8")).numpy()
    path = os.path.join(folder, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for name, function in signatures.endpoints().items():
            (spec,), target = function.input_signature, model_pb2.ModelSpec(name=model_name, signature_name=name)
            for size in sizes:
                request = predict_pb2.PredictRequest(model_spec=target)
                value = [png] * size if spec.dtype == tf.string else np.full(
                    (size, *signatures.image_shape), 128, spec.dtype.as_numpy_dtype)
                request.inputs[spec.name].CopyFrom(tf.make_tensor_proto(value, dtype=spec.dtype))
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
    return path
