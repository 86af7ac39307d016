"""`keras_vit.export(model, "models/vit_b16")`: a versioned SavedModel for TF Serving, plus models.config."""

import dataclasses
import os
import pathlib
import shlex
import warnings

import keras
import tensorflow as tf

from keras_vit.export.formats import FORMATS, SAVED_MODEL, serving_preprocessing, write_file
from keras_vit.export.layout import check_version, write_version
from keras_vit.export.model_config import CONFIG_FILE_NAME, add_model, updated_config_text
from keras_vit.export.signatures import ServingSignatures
from keras_vit.export.warmup import write_warmup_requests
from keras_vit.quantization import MODES as QUANTIZE_MODES
from keras_vit.quantization import quantize as quantize_model


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export` wrote.

    Attributes:
        path: the version folder, BASE/<version>.
        version: the integer version.
        model_name: the name the model server serves it under (BASE's folder name).
        config_path: the models.config written or updated (None with write_config=False).
        docker_command: a `docker run tensorflow/serving ...` line serving every model of that config (a
            `tensorflow_model_server ...` line with server_root=None).
        jit_compile: whether the model call inside the signatures is XLA-compiled.
        output_names: the output keys of both signatures.
    """

    path: str
    version: int
    model_name: str
    config_path: str | None
    docker_command: str
    jit_compile: bool
    output_names: tuple


def docker_command(config_dir, use_xla=True, server_root="/models", image="tensorflow/serving"):
    """The command that serves every model listed in `config_dir`/models.config.

    With `server_root` (the path models.config's base paths start with), a `docker run` line mounting `config_dir`
    there; with server_root=None (local absolute base paths), a `tensorflow_model_server` line. XLA-compiled
    signatures need `--xla_cpu_compilation_enabled=true` on TF Serving's CPU builds (off by default; without it the
    first request fails with an error about XLA:CPU JIT).
    """
    config_dir = os.path.abspath(config_dir)
    if server_root is None:
        parts = ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501",
                 f"--model_config_file={os.path.join(config_dir, CONFIG_FILE_NAME)}"]
    else:
        root = server_root.rstrip("/") or "/"
        parts = ["docker", "run", "--rm", "-p", "8500:8500", "-p", "8501:8501", "-v", f"{config_dir}:{root}", image,
                 f"--model_config_file={root.rstrip('/')}/{CONFIG_FILE_NAME}"]
    if use_xla:
        parts.append("--xla_cpu_compilation_enabled=true")
    return " ".join(shlex.quote(part) for part in parts)


def export(model, base_path, version=None, labels=None, top_k=5, include_features=False, preprocessing=None,
           jit_compile="auto", outputs="auto", write_config=True, server_root="/models", warmup_batch_sizes=None,
           check=False, verbose=True, format="tf_saved_model", quantize=None):
    """Exports `model` as BASE/<version>/ (a SavedModel with tag "serve") for TF Serving, or as one file for
    LiteRT, ONNX Runtime or OpenVINO (`format=`).

    The version folder is written under a hidden temporary name beside it and renamed into place, so a running
    server never sees half a model; an existing version is never overwritten.

    Signatures (see docs/export.md):
        serving_default: `images`, float32 [batch, height, width, C], pixel values in [0, 255] with the model's C
            channels (3: RGB, 1: grayscale), any height and width (resized inside, then normalized as the weights
            expect). NaN or infinite values are refused with an error.
        serving_bytes: `image_bytes`, tf.string [batch], encoded JPEG or PNG files of any size (decoded to C
            channels).
        Both return `probabilities` float32 [batch, num_classes], `top_k_classes` int32 [batch, k],
        `top_k_scores` float32 [batch, k], plus `features` float32 [batch, hidden_dim] (include_features=True)
        and `top_k_labels` string [batch, k] (labels given). A model without a classifier returns `features` only.

    Args:
        model: a built Keras model taking (batch, H, W, C) preprocessed images (a zoo model, or one loaded from
            a `.keras` file).
        base_path: the model's folder, e.g. "models/vit_b16"; its name is the served model name.
        version: int version folder; None takes the next free number (1 for a new folder).
        labels: None, a list of class names or a text file with one name per line.
        top_k: the number of top classes returned.
        include_features: add the pooled features (the classifier's input) as `features`.
        preprocessing: an `ImagePreprocessing` layer; default `keras_vit.preprocessing(model)` (mean=std=0.5).
        jit_compile: "auto" (XLA if it compiles here, else plain graph with a warning), True or False.
        outputs: "auto" (from the model's classifier_activation), "logits" or "probabilities".
        write_config: write or update `models.config` in BASE's parent folder.
        server_root: the folder the server sees BASE's parent as (docker: /models); None writes the local
            absolute path into models.config.
        warmup_batch_sizes: e.g. (1, 8): write TF Serving warm-up requests of these batch sizes for both
            signatures (assets.extra/tf_serving_warmup_requests; needs tensorflow-serving-api), so that XLA
            compiles them while the version loads rather than on the first requests.
        check: reload the export with tf.saved_model.load and compare it with the Keras model (raises on a
            mismatch).
        verbose: print what was written and the docker line.
        format: "tf_saved_model" (the default: the versioned SavedModel above), or "litert", "onnx", "openvino":
            one file at `base_path` (ending in .tflite, .onnx, .xml) taking float32 [batch, H, W, C] pixels in
            [0, 255] at the model's size and returning `probabilities` (see keras_vit.export.formats). Those take
            only `preprocessing`, `outputs`, `quantize`, `check` and `verbose`.
        quantize: None, or "int8": the SavedModel holds a copy of `model` quantized by Keras's
            `model.quantize("int8")` (Dense and EinsumDense kernels in int8; `model` itself is unchanged); a LiteRT
            file gets int8 weights from the converter's dynamic-range quantization.

    Returns:
        An `ExportResult` (a `FileExportResult` for the one-file formats).
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise TypeError(f"export: `model` must be a built keras.Model; received {type(model).__name__}.")
    if format not in FORMATS:
        raise ValueError(f"export: `format` must be one of {FORMATS}; received {format!r}.")
    if quantize not in (None, *QUANTIZE_MODES):
        raise ValueError(f"export: `quantize` must be None or one of {QUANTIZE_MODES}; received {quantize!r}.")
    if jit_compile not in ("auto", True, False):
        raise ValueError(f"export: jit_compile must be 'auto', True or False; received {jit_compile!r}.")
    # A task model (keras_vit.tasks) publishes its own signatures: export needs no task code.
    if hasattr(model, "serving_signatures") and (top_k != 5 or include_features or outputs != "auto"):
        raise ValueError(f"export: top_k, include_features and outputs apply to classifiers; model {model.name!r} "
                         "serves its task's own outputs (docs/tasks.md).")
    preprocessing = serving_preprocessing(model, preprocessing)

    def make_signatures(jit):
        if hasattr(model, "serving_signatures"):
            return model.serving_signatures(preprocessing, labels, jit_compile=jit)
        return ServingSignatures(model, preprocessing, top_k=top_k, labels=labels, include_features=include_features,
                                 jit_compile=jit, outputs=outputs)

    if format != SAVED_MODEL:
        saved_model_only = {"version": (version, None), "labels": (labels, None), "top_k": (top_k, 5),
                            "include_features": (include_features, False), "jit_compile": (jit_compile, "auto"),
                            "write_config": (write_config, True), "server_root": (server_root, "/models"),
                            "warmup_batch_sizes": (warmup_batch_sizes, None)}
        given = [name for name, (value, default) in saved_model_only.items() if value != default]
        if given:
            raise ValueError(f"export: {', '.join(given)} apply to format='tf_saved_model' only; format={format!r} "
                             "writes one file with the model's probabilities (see docs/export.md).")
        signatures = make_signatures(False)
        result = write_file(model, signatures.inference_model(), base_path, format, quantize, verbose, runtime=check)
        if check:
            signatures.check_file(result, verbose=verbose)
        return result
    if quantize is not None:
        model = quantize_model(model, quantize)
    base_path = os.path.abspath(os.fspath(base_path))
    model_name = os.path.basename(base_path.rstrip(os.sep))
    version = check_version(base_path, version)
    config_dir = os.path.dirname(base_path)
    config_path = os.path.join(config_dir, CONFIG_FILE_NAME) if write_config else None
    served_path = base_path if server_root is None else f"{server_root.rstrip('/')}/{model_name}"
    if write_config:  # checked before anything is written, so that a config this export cannot update stops it early
        updated_config_text(config_path, model_name, served_path)
    signatures = make_signatures(jit_compile is not False)
    if jit_compile == "auto":  # run the XLA-compiled call once; fall back to no XLA if XLA cannot compile it here
        try:
            signatures.serving_default(tf.zeros((1, *signatures.image_shape), signatures.input_dtype))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            warnings.warn(f"export: XLA could not compile model {model.name!r} ({first_line}); exporting without XLA.",
                          stacklevel=2)
            signatures = make_signatures(False)

    def write(folder):
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, function in signatures.endpoints().items():
            function.get_concrete_function()  # ExportArchive takes a tf.function once traced
            archive.add_endpoint(name, function)
        archive.write_out(folder, verbose=False)
        for name, text in signatures.files().items():
            pathlib.Path(folder, name).write_text(text, encoding="utf-8")
        if warmup_batch_sizes:
            write_warmup_requests(folder, model_name, signatures, warmup_batch_sizes)

    path = write_version(base_path, version, write)
    # Read, changed and written again under a lock: another export may have added its model meanwhile.
    config_note = add_model(config_path, model_name, served_path) if write_config else None
    command = docker_command(config_dir, use_xla=signatures.jit_compile, server_root=server_root)
    served = signatures.serving_default.get_concrete_function().structured_outputs  # the output keys, in order
    result = ExportResult(path=path, version=version, model_name=model_name, config_path=config_path,
                          docker_command=command, jit_compile=signatures.jit_compile, output_names=tuple(served))
    if verbose:
        xla = "XLA-compiled" if signatures.jit_compile else "not XLA-compiled"
        print(f"Exported {model.name!r} to {path} (signatures {', '.join(signatures.endpoints())}; {xla}).")
        if config_note:
            print(config_note)
        print(f"Serve it with:\n  {command}")
    if check:
        signatures.check(path, verbose=verbose)
    return result
