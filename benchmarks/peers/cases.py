"""What one benchmark case measures: `setup(case, config)` builds a peer's model and returns a `Step`.

A case is "peer:mode". Runs inside a worker process (benchmarks.peers.worker), one case per process, so that
each case's peak memory is its own and frameworks never share a process.

| case                     | one step                                                                        |
|--------------------------|---------------------------------------------------------------------------------|
| keras_vit:predict        | `model.predict(x)` of a zoo model after `compile(jit_compile=True)` (XLA)       |
| keras_vit:call           | a direct `tf.function(jit_compile=True)` call of the zoo model                  |
| keras_vit:saved_model    | the exported SavedModel's serving function, reloaded with tf.saved_model.load   |
| keras_vit:fit            | `model.fit`, one epoch of TRAIN_STEPS batches, AdamW, `jit_compile=True`        |
| keras_vit:train_on_batch | TRAIN_STEPS `train_on_batch` calls, AdamW, `jit_compile=True`: fit's step alone |
| keras_vit:predict_bf16   | `model.predict` of the model built with dtype "mixed_bfloat16"                  |
| keras_vit:predict_int8   | `model.predict` after Keras's `model.quantize("int8")`                          |
| keras_vit:fit_bf16       | `model.fit` step under "mixed_bfloat16"                                         |
| keras_vit:predict_graph  | `model.predict` after `compile(jit_compile=False)`: what XLA buys               |
| keras_vit:fit_graph      | `model.fit` step with `compile(..., jit_compile=False)`                         |
| keras_vit:fit_remat      | `model.fit` step of the model built with `rematerialize=True` (less memory)     |
| keras_vit:fit_lora       | `model.fit` step after `keras_vit.enable_lora(model, rank=8, targets=("qkv",))` |
| jax:predict, jax:fit     | the zoo model on Keras's JAX backend (XLA, Keras's default there)               |
| torch:predict, torch:fit | the zoo model on Keras's torch backend (eager, Keras's default there)           |
| keras_hub:predict        | keras-hub ViTImageClassifier (random weights, same config), `model.predict`     |
| keras_hub:call           | keras-hub under `tf.function(jit_compile=True)`                                 |
| keras_hub:fit            | keras-hub `model.fit` (TRAIN_STEPS batches), AdamW, `compile(jit_compile=True)` |
| keras_hub:train_on_batch | keras-hub `train_on_batch`, AdamW, `compile(jit_compile=True)`                  |
| timm:eager               | timm model (random weights), `torch.inference_mode()` forward                   |
| timm:compile             | timm under `torch.compile` (inductor, weights frozen)                           |
| timm:train               | timm eager AdamW training step                                                  |
| onnxruntime:float32      | keras_vit.export(format="onnx") run by an onnxruntime CPU session               |
| openvino:float32         | keras_vit.export(format="openvino") compiled by OpenVINO for its CPU plugin     |
| litert:float32, :int8    | keras_vit.export(format="litert"[, quantize="int8"]) in ai-edge-litert          |
| ceiling:matmul           | a float32 2048x2048 matmul under XLA: the machine's achievable GFLOP/s          |

A training case's run() takes TRAIN_STEPS optimizer steps (one `fit` epoch of TRAIN_STEPS batches, or as many
`train_on_batch` / timm steps), so that per-call costs (fit builds a data iterator and callbacks on every call, and
tearing the iterator down took 0 or ~0.8 s at random here) weigh on a training step as they do in real training,
and every training case of a run does the same work; reports divide by the steps.

FLOPs per step are 2 x keras_vit.macs.count_macs (one multiply-accumulate = 2 FLOPs) x batch for inference and 3x
that for a training step (forward + backward), the same for every peer of the same config.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable

import numpy as np

PEERS = {
    "keras_vit": ("predict", "call", "saved_model", "fit", "predict_bf16", "fit_bf16", "predict_graph", "fit_graph",
                  "fit_remat", "fit_lora", "train_on_batch", "predict_int8"),
    # The same zoo model on Keras's other backends, each in a worker with KERAS_BACKEND set.
    "jax": ("predict", "fit"),
    "torch": ("predict", "fit"),
    "keras_hub": ("predict", "call", "fit", "train_on_batch"),
    "timm": ("eager", "compile", "train"),
    # The one-file exports in their own runtimes (pip install 'keras-vit[deploy]'); they take [0, 255] pixels.
    "onnxruntime": ("float32",),
    "openvino": ("float32",),
    "litert": ("float32", "int8"),
    "ceiling": ("matmul",),
}
# The module each peer needs (checked before a worker starts, so a missing peer is a skip, not a crash).
PEER_MODULES = {"jax": "jax", "torch": "torch", "keras_hub": "keras_hub", "timm": "timm", "onnxruntime": "onnxruntime", "openvino": "openvino",
                "litert": "ai_edge_litert"}
TRAINING_MODES = ("fit", "fit_bf16", "fit_graph", "fit_remat", "fit_lora", "train_on_batch", "train")
TRAIN_STEPS = 4
# The file each one-file export format writes (keras_vit.export(path, format=...) takes the path with this suffix).
FILE_SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite"}
MATMUL_SIZE = 2048


@dataclasses.dataclass
class Step:
    """One timed unit of work: `run()` blocks until the result is computed."""

    run: Callable[[], object]
    images: int  # images processed per run() (0 for the matmul ceiling)
    flops: float  # floating-point operations per run()
    steps: int = 1  # optimizer steps or forward passes per run()
    info: dict = dataclasses.field(default_factory=dict)


def parse_case(case):
    """'peer:mode' -> (peer, mode); raises ValueError naming the known cases."""
    peer, _, mode = case.partition(":")
    if peer not in PEERS or mode not in PEERS[peer]:
        known = ", ".join(f"{p}:{m}" for p, modes in PEERS.items() for m in modes)
        raise ValueError(f"Unknown benchmark case {case!r}. Known cases: {known}.")
    return peer, mode


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a worker knows about the benchmarked zoo model (resolved by the runner: no keras_vit import needed)."""

    name: str
    family: str
    aliases: tuple


def forward_flops(config):
    """FLOPs of one image's forward pass: 2 x keras_vit.macs.count_macs (runs in the parent process)."""
    from keras_vit.macs import count_macs

    return 2.0 * count_macs(config["model"], **config.get("overrides", {}))


def setup(case, config):
    """Builds the case's model and warms nothing up (the worker does); returns a Step."""
    peer, mode = parse_case(case)
    rng = np.random.default_rng(0)
    if peer == "ceiling":
        return _matmul_ceiling(rng)
    spec = ModelInfo(config["model"], config["family"], tuple(config["aliases"]))
    model = config["model_section"]
    batch = int(config["batch_size"])
    x = rng.uniform(-1, 1, size=(batch, model["image_size"], model["image_size"], model.get("num_channels", 3)))
    x = x.astype("float32")
    y = (np.arange(batch) % max(int(model["num_classes"]), 1)).astype("int32")
    steps = TRAIN_STEPS if mode in TRAINING_MODES else 1
    flops = config["forward_flops"] * batch * (3 if mode in TRAINING_MODES else 1) * steps
    setup_fn = {"keras_vit": _keras_vit, "jax": _keras_vit_backend, "torch": _keras_vit_backend,
                "keras_hub": _keras_hub, "timm": _timm, "onnxruntime": _runtime,
                "openvino": _runtime, "litert": _runtime}[peer]
    if setup_fn is _runtime:
        setup_fn = lambda *args: _runtime(peer, *args)  # noqa: E731
    step = setup_fn(mode, config, spec, model, x, y)
    step.flops = flops
    step.images = batch * steps
    step.steps = steps
    return step


def _fit(model, x, y, tensorflow=True):
    """A Step's run: one `model.fit` epoch over the batch repeated TRAIN_STEPS times (no shuffling). On TensorFlow
    the batches come from a tf.data pipeline on one private thread, as `keras_vit.train` feeds fit (Keras's own
    pipeline for arrays competes with the compiled step for the cores: docs/speed.md, "fit on arrays")."""
    xs, ys = np.concatenate([x] * TRAIN_STEPS), np.concatenate([y] * TRAIN_STEPS)
    if not tensorflow:
        return lambda: model.fit(xs, ys, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    from benchmarks.peers.arrays import array_batches

    dataset = array_batches(xs, ys, len(x), shuffle=False)
    return lambda: model.fit(dataset, epochs=1, shuffle=False, verbose=0)


def _repeat(function):
    def run():
        for _ in range(TRAIN_STEPS):
            result = function()
        return result

    return run


def _matmul_ceiling(rng):
    import tensorflow as tf

    n = MATMUL_SIZE
    a = tf.constant(rng.normal(size=(n, n)).astype("float32"))
    b = tf.constant(rng.normal(size=(n, n)).astype("float32"))
    matmul = tf.function(lambda p, q: tf.matmul(p, q), jit_compile=True)
    return Step(run=lambda: matmul(a, b).numpy(), images=0, flops=2.0 * n**3, info={"matmul": f"{n}x{n} float32"})


def _adamw_loss():
    import keras

    return keras.optimizers.AdamW(learning_rate=1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _keras_vit(mode, config, spec, model_section, x, y):
    import tensorflow as tf

    import keras_vit

    dtype = "mixed_bfloat16" if mode.endswith("_bf16") else None
    overrides = dict(config.get("overrides", {}))
    if mode == "fit_remat":
        overrides["rematerialize"] = True  # blocks recompute activations in the backward pass: memory for time
    model = keras_vit.create(config["model"], dtype=dtype, **overrides)
    if mode == "predict_int8":
        from keras_vit.quantization import quantize

        model = quantize(model)
    # The compute dtype of the layers (a functional model's own policy stays the global one).
    info = {"dtype_policy": model.layers[-1].dtype_policy.name}
    # XLA, as a user asks for it on a TensorFlow CPU (keras_vit.train's default there); predict_graph without.
    model.compile(jit_compile=mode != "predict_graph")
    if mode in ("predict", "predict_bf16", "predict_graph", "predict_int8"):
        return Step(run=lambda: model.predict(x, batch_size=len(x), verbose=0), images=0, flops=0, info=info)
    if mode == "call":
        call = tf.function(lambda images: model(images, training=False), jit_compile=True)
        tensor = tf.constant(x)
        return Step(run=lambda: call(tensor).numpy(), images=0, flops=0, info=info)
    if mode == "fit_lora":
        # LoRA's rank-8 adapters on every qkv projection; the rest frozen but the head (issue 26's case).
        keras_vit.enable_lora(model, rank=8, targets=("qkv",))
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    info.update(trainable_params=trainable, trainable_fraction=trainable / model.count_params())
    if mode in ("fit", "fit_bf16", "fit_graph", "fit_remat", "fit_lora"):
        optimizer, loss = _adamw_loss()
        model.compile(optimizer=optimizer, loss=loss, jit_compile=mode != "fit_graph")
        info["jit_compile"] = bool(model.jit_compile)
        return Step(run=_fit(model, x, y), images=0, flops=0, info=info)
    if mode == "train_on_batch":
        model.compile(*_adamw_loss(), jit_compile=True)
        info["jit_compile"] = bool(model.jit_compile)
        return Step(run=_repeat(lambda: model.train_on_batch(x, y)), images=0, flops=0, info=info)
    if mode == "saved_model":
        folder = tempfile.mkdtemp(prefix="keras_vit_bench_")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the worker's normal exit removes it
        # What a user serves: keras_vit.export's versioned SavedModel (preprocessing and XLA inside the signature).
        path = keras_vit.export(model, os.path.join(folder, "saved_model"), write_config=False).path
        info["exporter"] = "keras_vit.export"
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        (name,) = serve.structured_input_signature[1].keys()
        tensor = tf.constant(x)

        def run():
            outputs = serve(**{name: tensor})
            return [v.numpy() for v in outputs.values()]

        info["saved_model_dir"] = path
        return Step(run=run, images=0, flops=0, info=info)
    raise AssertionError(mode)


def _keras_vit_backend(mode, config, spec, model_section, x, y):
    """The zoo model on the worker's Keras backend (KERAS_BACKEND, set by the runner), with Keras's defaults."""
    import keras

    import keras_vit

    model = keras_vit.create(config["model"], **config.get("overrides", {}))
    info = {"backend": keras.backend.backend()}
    if mode == "predict":
        return Step(run=lambda: model.predict(x, batch_size=len(x), verbose=0), images=0, flops=0, info=info)
    model.compile(*_adamw_loss())
    info["jit_compile"] = bool(model.jit_compile)
    return Step(run=_fit(model, x, y, tensorflow=False), images=0, flops=0, info=info)


def _runtime(peer, mode, config, spec, model_section, x, y):
    """A keras_vit.export file of the zoo model, run in its own runtime on [0, 255] pixels."""
    import keras_vit
    from keras_vit.export.formats import load_runtime

    format_name = "onnx" if peer == "onnxruntime" else peer
    model = keras_vit.create(config["model"], **config.get("overrides", {}))
    folder = tempfile.mkdtemp(prefix="keras_vit_bench_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = os.path.join(folder, "model" + FILE_SUFFIXES[format_name])
    keras_vit.export(model, path, format=format_name, quantize="int8" if mode == "int8" else None, verbose=False)
    predict = load_runtime(path)
    pixels = (x + 1.0) * 127.5
    info = {"file_bytes": sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))}
    return Step(run=lambda: predict(pixels), images=0, flops=0, info=info)


def _keras_hub(mode, config, spec, m, x, y):
    import keras_hub
    import tensorflow as tf

    if spec.family != "vit" or m.get("stem") or m.get("position_encoding", "learned_1d") != "learned_1d" or m.get(
        "pooling", "token"
    ) != "token":
        raise NotImplementedError(f"keras-hub has no model matching {spec.name!r} (family {spec.family}).")
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(m["image_size"], m["image_size"], m.get("num_channels", 3)),
        patch_size=m["patch_size"],
        num_layers=m["num_layers"],
        num_heads=m["num_heads"],
        hidden_dim=m["hidden_dim"],
        mlp_dim=m["intermediate_dim"],
        layer_norm_epsilon=m.get("layer_norm_epsilon", 1e-6),
        use_mha_bias=m.get("use_qkv_bias", True),
    )
    model = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=m["num_classes"], preprocessor=None)
    info = {"keras_hub": keras_hub.__version__}
    if mode == "predict":
        return Step(run=lambda: model.predict(x, batch_size=len(x), verbose=0), images=0, flops=0, info=info)
    if mode == "call":
        call = tf.function(lambda images: model(images, training=False), jit_compile=True)
        tensor = tf.constant(x)
        return Step(run=lambda: call(tensor).numpy(), images=0, flops=0, info=info)
    optimizer, loss = _adamw_loss()
    model.compile(optimizer=optimizer, loss=loss, jit_compile=True)
    info["jit_compile"] = bool(model.jit_compile)
    run = _fit(model, x, y) if mode == "fit" else _repeat(lambda: model.train_on_batch(x, y))
    return Step(run=run, images=0, flops=0, info=info)


def timm_kwargs(spec, m):
    """timm.create_model keyword arguments for the same architecture (random weights)."""
    common = {"img_size": m["image_size"], "patch_size": m["patch_size"], "num_classes": m["num_classes"]}
    mlp_ratio = m["intermediate_dim"] / m["hidden_dim"]
    if spec.family == "vit" and not m.get("stem"):
        return {**common, "embed_dim": m["hidden_dim"], "depth": m["num_layers"], "num_heads": m["num_heads"],
                "mlp_ratio": mlp_ratio, "qkv_bias": m.get("use_qkv_bias", True)}
    if spec.family == "tnt":
        return {**common, "embed_dim": m["hidden_dim"], "inner_dim": m["inner_dim"], "depth": m["num_layers"],
                "num_heads_outer": m["num_heads"], "num_heads_inner": m["inner_num_heads"], "mlp_ratio": mlp_ratio,
                "first_stride": m["pixel_stride"], "qkv_bias": m.get("use_qkv_bias", False)}
    raise NotImplementedError(f"No timm mapping for {spec.name!r} (family {spec.family}).")


def _timm_name(spec):
    for alias in spec.aliases:
        if "_patch" in alias:
            return alias
    raise NotImplementedError(f"{spec.name!r} has no timm alias.")


def _timm(mode, config, spec, m, x, y):
    import timm
    import torch

    model = timm.create_model(_timm_name(spec), pretrained=False, **timm_kwargs(spec, m))
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    info = {"timm": timm.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if mode == "train":
        model.train()
        labels = torch.from_numpy(y.astype("int64"))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            return loss.item()

        return Step(run=_repeat(train_step), images=0, flops=0, info=info)
    model.eval()
    forward = model
    if mode == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        forward = torch.compile(model)

    def run():
        with torch.inference_mode():
            return forward(images).numpy()

    return Step(run=run, images=0, flops=0, info=info)
