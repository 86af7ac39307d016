"""Serving speed of an export against the in-process XLA-compiled Keras call (a measurement, not a test).

    python -m benchmarks serving --model vit_b16 --batch 8 --rounds 5

Prints images/s for: the Keras model through tf.function(jit_compile=True) (the in-process ceiling), the exported
SavedModel's serving_default reloaded with tf.saved_model.load (XLA on and off), and serving_bytes on JPEGs.
Variants run interleaved, round by round, and the median round is reported, so that load from other processes
hits every variant alike.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time


def _time(fn, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    _ = [v.numpy() for v in (out.values() if isinstance(out, dict) else [out])]
    return (time.perf_counter() - start) / repeats


def add_arguments(parser):
    """The options of `python -m benchmarks serving`."""
    parser.add_argument("--model", default="vit_b16", help="zoo model name (default: %(default)s)")
    parser.add_argument("--image_size", type=int, default=None, help="input size (default: the spec's)")
    parser.add_argument("--batch", type=int, default=8, help="images per call (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="calls per round and variant (default: %(default)s)")
    parser.add_argument("--no_plain", action="store_true", help="skip the export without XLA")


def run(args):
    """Measures and prints one line per variant (args: the parsed options of add_arguments)."""
    import numpy as np
    import tensorflow as tf

    import keras_vit
    from keras_vit.testing import randomize_weights

    overrides = {} if args.image_size is None else {"image_size": args.image_size}
    model = randomize_weights(keras_vit.create(args.model, **overrides), seed=0)
    _, height, width, _ = model.inputs[0].shape
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, size=(args.batch, height, width, 3)).astype("float32")
    prep = keras_vit.preprocessing(model)
    normalized = tf.constant(prep(pixels))
    compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
    jpegs = tf.constant([tf.io.encode_jpeg(p.astype("uint8")).numpy() for p in pixels])

    graph = tf.function(lambda x: model(x, training=False))
    variants = {
        "keras tf.function(jit_compile=True)": lambda: compiled(normalized),
        "keras tf.function (no XLA)": lambda: graph(normalized),
    }
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        xla = keras_vit.export(model, os.path.join(folder, "xla"), verbose=False)
        export_s = time.perf_counter() - t0
        loaded = tf.saved_model.load(xla.path)
        images = tf.constant(pixels)
        variants[f"SavedModel serving_default (XLA={xla.jit_compile})"] = (
            lambda: loaded.signatures["serving_default"](images=images)
        )
        variants["SavedModel serving_bytes, JPEG (XLA)"] = lambda: loaded.signatures["serving_bytes"](image_bytes=jpegs)
        if not args.no_plain:
            plain = keras_vit.export(model, os.path.join(folder, "plain"), jit_compile=False, verbose=False)
            loaded_plain = tf.saved_model.load(plain.path)
            variants["SavedModel serving_default (XLA=False)"] = (
                lambda: loaded_plain.signatures["serving_default"](images=images)
            )
        first = {}
        for name, fn in variants.items():  # first call: tracing and XLA compilation
            t0 = time.perf_counter()
            fn()
            first[name] = time.perf_counter() - t0
        timings = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                timings[name].append(_time(fn, args.repeats))
    base = statistics.median(timings["keras tf.function(jit_compile=True)"])
    print(f"{args.model} {height}x{width}, batch {args.batch}, {args.rounds} rounds x {args.repeats} calls; "
          f"export took {export_s:.1f} s; TF {tf.__version__}; devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    for name, values in timings.items():
        seconds = statistics.median(values)
        print(f"  {name:<42} {args.batch / seconds:8.2f} images/s   {seconds / base:5.2f}x the compiled call's time   "
              f"(first call {first[name]:.1f} s; rounds {min(values) * 1e3:.0f}-{max(values) * 1e3:.0f} ms)")
