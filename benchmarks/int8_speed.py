"""Inference speed of the deployment forms of one zoo model, in one process, interleaved round by round.

    python benchmarks/int8_speed.py --model vit_b16 --batch 8 --rounds 6 --formats onnx,openvino,litert

Cases: Keras float32 `model.predict` (the reference), Keras int8 `predict` (model.quantize("int8")), and the float32
model exported with keras_vit.export(format=...) and run in onnxruntime, OpenVINO and ai-edge-litert. Each round
runs every case once, in a rotated order; the report gives each case's median seconds and the median of its per-round
ratio to the float32 predict of the same round (paired, so that load from other processes hits both alike).
Results: docs/speed.md.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

import keras_vit
from keras_vit.export.formats import load_runtime
from keras_vit.quantization import quantize
from keras_vit.testing import randomize_weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_b16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--formats", default="", help="comma-separated: onnx, openvino, litert")
    args = parser.parse_args()

    model = randomize_weights(keras_vit.create(args.model), seed=0)
    _, height, width, channels = model.inputs[0].shape
    pixels = np.random.default_rng(0).uniform(0, 255, size=(args.batch, height, width, channels)).astype("float32")
    normalized = np.asarray(keras_vit.preprocessing(model)(pixels))
    int8 = quantize(model)
    cases = {
        "keras float32 predict": lambda: model.predict(normalized, batch_size=args.batch, verbose=0),
        "keras int8 predict": lambda: int8.predict(normalized, batch_size=args.batch, verbose=0),
    }
    folder = tempfile.mkdtemp(prefix="keras_vit_speed_")
    suffix = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite"}
    for format_name in filter(None, args.formats.split(",")):
        start = time.perf_counter()
        result = keras_vit.export(model, os.path.join(folder, args.model + suffix[format_name]), format=format_name,
                                  verbose=False)
        print(f"{format_name}: written in {time.perf_counter() - start:.0f} s, "
              f"{sum(os.path.getsize(f) for f in result.files) / 1e6:.0f} MB", flush=True)
        cases[f"{format_name} float32"] = (lambda predict: lambda: predict(pixels))(load_runtime(result.path))
    first = {}
    for name, run in cases.items():  # compile / warm up
        start = time.perf_counter()
        run()
        run()
        first[name] = time.perf_counter() - start
    seconds = {name: [] for name in cases}
    names = list(cases)
    for index in range(args.rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            start = time.perf_counter()
            cases[name]()
            seconds[name].append(time.perf_counter() - start)
        print(f"round {index}: " + ", ".join(f"{n} {s[-1]:.2f}s" for n, s in seconds.items()), flush=True)
    reference = seconds["keras float32 predict"]
    print(f"\n{args.model} {height}x{width}, batch {args.batch}, {args.rounds} rounds; TF {tf.__version__}")
    for name, values in seconds.items():
        ratios = [r / v for r, v in zip(reference, values)]
        print(f"  {name:<24} median {statistics.median(values):6.2f} s  {args.batch / statistics.median(values):6.2f} "
              f"images/s  speed-up vs float32 predict (median of paired rounds) {statistics.median(ratios):.2f}x "
              f"[{min(ratios):.2f}-{max(ratios):.2f}]  (two warm-up calls {first[name]:.1f} s)")


if __name__ == "__main__":
    main()
