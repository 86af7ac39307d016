"""Held-out accuracy of a trained model in every deployment form: Keras float32 and int8, the int8 SavedModel as TF
Serving would run it, and the LiteRT (float, int8), ONNX Runtime and OpenVINO files.

    python benchmarks/deploy_accuracy.py runs/mnist_vit/model.keras            # the README's main job

The held-out split is the offline digits' "test" split (1,000 images the run never trained on). Every form gets the
raw [0, 255] pixels (the SavedModel and the files normalize inside; Keras gets keras_vit.preprocessing's output).
Results: docs/speed.md (int8) and docs/export.md (formats).
"""

import json
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import keras_vit
from keras_vit.export.formats import load_runtime
from keras_vit.quantization import quantize


def main(path):
    model = keras.saving.load_model(path, compile=False)
    channels = model.inputs[0].shape[-1]
    held_out = keras_vit.data.load_dataset("offline", split="test", num_channels=channels)
    pixels, labels = map(np.stack, zip(*held_out.dataset.as_numpy_iterator()))
    pixels = pixels.astype("float32")
    prep = keras_vit.preprocessing(model)
    normalized = np.asarray(prep(pixels))
    int8 = quantize(model)
    predictions = {
        "keras float32": model.predict(normalized, batch_size=100, verbose=0),
        "keras int8 (model.quantize)": int8.predict(normalized, batch_size=100, verbose=0),
    }
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        served = keras_vit.export(model, os.path.join(folder, "models", "int8"), quantize="int8", verbose=False)
        serve = tf.saved_model.load(served.path).signatures["serving_default"]
        predictions["SavedModel int8, serving_default"] = np.concatenate(
            [serve(images=tf.constant(pixels[i:i + 100]))["probabilities"].numpy() for i in range(0, len(pixels), 100)]
        )
        for name, format_name, options in (
            ("LiteRT float32", "litert", {}), ("LiteRT int8 (dynamic range)", "litert", {"quantize": "int8"}),
            ("ONNX Runtime float32", "onnx", {}), ("OpenVINO float32", "openvino", {}),
        ):
            suffix = {"litert": ".tflite", "onnx": ".onnx", "openvino": ".xml"}[format_name]
            start = time.perf_counter()
            result = keras_vit.export(model, os.path.join(folder, name.split()[0] + options.get("quantize", "") + suffix),
                                      format=format_name, verbose=False, **options)
            written = time.perf_counter() - start
            predict = load_runtime(result.path)
            predictions[name] = predict(pixels)
            sizes[name] = (sum(os.path.getsize(f) for f in result.files), round(written, 1))
    reference = np.argmax(predictions["keras float32"], -1)
    report = {}
    for name, scores in predictions.items():
        top1 = np.argmax(scores, -1)
        report[name] = {"accuracy": round(float(np.mean(top1 == labels)) * 100, 2),
                        "top1_agreement_with_float32": round(float(np.mean(top1 == reference)) * 100, 2)}
        if name in sizes:
            report[name]["file_bytes"], report[name]["export_s"] = sizes[name]
    print(f"{path}: {len(labels)} held-out images; TF {tf.__version__}, Keras {keras.__version__}")
    for name, row in report.items():
        print(f"  {name:<36} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
