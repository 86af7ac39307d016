"""One-file exports for other runtimes: LiteRT (.tflite), ONNX (.onnx) and OpenVINO IR (.xml + .bin).

Each goes through Keras's own exporter (`model.export(path, format=...)`) on a small wrapper model, so that every
format takes what `serving_default` takes and returns what it returns:

    images         float32 [batch, height, width, C], pixel values in [0, 255] at the model's own size (C: 3 for
                   RGB, 1 for grayscale); the normalization the weights expect is inside.
    probabilities  float32 [batch, num_classes] (softmax of the logits; a model with its own activation serves its
                   scores), or `features` [batch, hidden_dim] for a model without a classifier.

Unlike the SavedModel there is no resize, decoding, top-k or label lookup inside: sizes are fixed, and the runtimes
differ in what string and dynamic-size ops they run. `load_runtime` runs a written file in its real runtime (the
`deploy` extra installs them: ai-edge-litert, onnxruntime, openvino, and tf2onnx + onnx to write ONNX).
"""

import dataclasses
import importlib
import os
import re
import tempfile

import numpy as np

# format -> (file suffix, the packages that write it, the package that runs it); pip names use "-" for "_".
FILE_FORMATS = {
    "litert": (".tflite", (), "ai_edge_litert"),
    "onnx": (".onnx", ("tf2onnx", "onnx"), "onnxruntime"),
    "openvino": (".xml", ("openvino",), "openvino"),
}
SAVED_MODEL = "tf_saved_model"
FORMATS = (SAVED_MODEL, *FILE_FORMATS)


@dataclasses.dataclass(frozen=True)
class FileExportResult:
    """What a one-file export wrote.

    Attributes:
        path: the model file (.tflite, .onnx or .xml).
        format: "litert", "onnx" or "openvino".
        files: every file written (OpenVINO writes the weights beside the .xml, as .bin).
        quantize: None, or "int8" (LiteRT: int8 weights through the converter's dynamic-range quantization).
        output_name: the file's output names ("probabilities" or "features" for a classifier).
    """

    path: str
    format: str
    files: tuple
    quantize: str | None
    output_name: str


def require(module, format_name):
    """Imports `module`, or raises ImportError saying which package to install for `format_name`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.replace("_", "-")
        raise ImportError(f"export: format={format_name!r} needs the package {package!r}: pip install "
                          f"'keras-vit[deploy]' (or pip install {package}).") from None


def serving_preprocessing(model, preprocessing=None):
    """`preprocessing` (default `keras_vit.preprocessing(model)`) as a float32 `ImagePreprocessing` layer: served
    pixels stay float32 whatever the global dtype policy; the model casts to its own compute dtype."""
    from keras_vit.preprocessing import ImagePreprocessing
    from keras_vit.preprocessing import preprocessing as default_preprocessing

    layer = default_preprocessing(model) if preprocessing is None else preprocessing
    if not isinstance(layer, ImagePreprocessing):
        raise TypeError(
            f"export: `preprocessing` must be a keras_vit.ImagePreprocessing layer (see keras_vit.preprocessing); "
            f"received {type(layer).__name__}."
        )
    return ImagePreprocessing.from_config({**layer.get_config(), "dtype": "float32"})


def write_file(model, wrapper, path, format_name, quantize=None, verbose=True, runtime=False):
    """Writes `wrapper` (`model` with its preprocessing and outputs inside: its signatures' `inference_model()`) as
    one `format_name` file at `path`; raises if the path's suffix is wrong or the file exists.

    The file is written in a hidden temporary folder beside `path` and moved into place when complete. With
    `runtime` (a check follows), the package that runs the file must be installed too, before anything is written.
    """
    suffix, writers, runner = FILE_FORMATS[format_name]
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(suffix):
        raise ValueError(f"export: format={format_name!r} writes one {suffix} file; pass a path ending in {suffix} "
                         f"(received {path!r}).")
    companions = [path] + ([path[: -len(suffix)] + ".bin"] if format_name == "openvino" else [])
    existing = [p for p in companions if os.path.exists(p)]
    if existing:
        raise FileExistsError(f"export: {existing[0]} exists already; an export never overwrites a file. Pass another "
                              "path or delete it yourself.")
    for module in writers + ((runner,) if runtime else ()):
        require(module, format_name)
    if quantize is not None and format_name != "litert":
        raise ValueError(
            f"export: quantize={quantize!r} is available for format='tf_saved_model' and 'litert'; for "
            f"{format_name!r} export the float model and quantize with its own tools (onnxruntime.quantization, "
            "OpenVINO's NNCF)."
        )
    wrapper(np.zeros((1, *wrapper.inputs[0].shape[1:]), "float32"))  # Keras's ONNX exporter wants a called model
    kwargs = {}
    if format_name == "litert":
        import tensorflow as tf

        # Built-in LiteRT ops only: a file needing the TensorFlow (Flex) delegate would not run in ai-edge-litert.
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
        if quantize == "int8":
            kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=folder, ignore_cleanup_errors=True) as temporary:
        try:
            wrapper.export(os.path.join(temporary, os.path.basename(path)), format=format_name, verbose=False,
                           **kwargs)
        except Exception as error:
            missing = re.search(r"TF Select ops: ([^\n]+)", str(error))
            if format_name != "litert" or not missing:
                raise
            raise ValueError(
                f"export: format='litert' cannot convert model {model.name!r}: LiteRT has no built-in op for "
                f"{missing.group(1).strip()} (it would need TensorFlow's Flex delegate, which ai-edge-litert's "
                "interpreter does not include). Write that computation with ops LiteRT has; for an exact GELU, "
                "(x * 0.5) * (erf(x / sqrt(2)) + 1) is the form the converter turns into its GELU op."
            ) from None
        files = tuple(os.path.join(folder, name) for name in sorted(os.listdir(temporary)))
        for file in files:
            os.replace(os.path.join(temporary, os.path.basename(file)), file)
    output_name = ", ".join(wrapper.output)
    if verbose:
        print(f"Exported {model.name!r} to {path} (format {format_name!r}; input images [batch, "
              f"{', '.join(str(d) for d in wrapper.inputs[0].shape[1:])}] in [0, 255], output {output_name}).")
    return FileExportResult(path=path, format=format_name, files=files, quantize=quantize, output_name=output_name)


def load_runtime(path, openvino_precision="f32"):
    """Loads a file written by `write_file` in its own runtime; returns predict(images) -> a NumPy array (the file's
    first output).

    `images`: float32 [batch, height, width, C] pixels in [0, 255] at the model's size. The format is told by the
    suffix. `openvino_precision` is OpenVINO's INFERENCE_PRECISION_HINT: "f32" (default: the float model's numbers),
    or None for the CPU plugin's own default, which is bf16 on CPUs with AVX512_BF16 or AMX (faster, about 3
    significant digits).
    """
    path = os.fspath(path)
    format_name = next((name for name, (suffix, _, _) in FILE_FORMATS.items() if path.endswith(suffix)), None)
    if format_name is None:
        raise ValueError(f"load_runtime: cannot tell the format of {path!r}; its suffix is none of "
                         f"{[suffix for suffix, _, _ in FILE_FORMATS.values()]}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_runtime: {path!r} not found.")
    runtime = require(FILE_FORMATS[format_name][2], format_name)
    if format_name == "onnx":
        session = runtime.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda images: session.run(None, {input_name: np.asarray(images, "float32")})[0]
    if format_name == "openvino":
        config = {} if openvino_precision is None else {"INFERENCE_PRECISION_HINT": openvino_precision}
        compiled = runtime.Core().compile_model(path, "CPU", config)
        output = compiled.output(0)
        return lambda images: np.asarray(compiled(np.asarray(images, "float32"))[output])
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()  # it resizes the input to each batch's shape
    (name,) = runner.get_input_details()
    return lambda images: next(iter(runner(**{name: np.asarray(images, "float32")}).values()))
