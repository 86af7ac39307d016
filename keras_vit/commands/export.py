"""`keras-vit export --model NAME|FILE.keras [--weights FILE] --out DIR [--labels FILE] [--check]`: a versioned
SavedModel for TF Serving, or with --format litert|onnx|openvino one file for those runtimes (see docs/export.md)."""

import functools

from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("model", None, "A zoo model name or alias (vit_b16), a YAML spec path, or a saved .keras model.")
flags.DEFINE_string("from", None, "A saved .keras model (what training writes); the same as --model FILE.keras.")
flags.DEFINE_string("weights", None, "Weights for --model NAME: a .keras model file or any checkpoint keras_vit.weights reads (.weights.h5, .npz, .safetensors, .pth).")
flags.DEFINE_string("out", None, "The model's serving folder, e.g. models/vit_b16; versions go in numbered subfolders "
                    "(with --format litert|onnx|openvino: the file, e.g. vit_b16.onnx).")
flags.DEFINE_enum("format", "tf_saved_model", ["tf_saved_model", "litert", "onnx", "openvino"],
                  "What to write: a SavedModel for TF Serving, or one .tflite, .onnx or .xml (+ .bin) file.")
flags.DEFINE_enum("quantize", None, ["int8"], "Export int8 weights (Keras's model.quantize; LiteRT: the converter's "
                  "dynamic-range quantization).")
flags.DEFINE_integer("version", None, "The version folder to write (default: the next free number).")
flags.DEFINE_string("labels", None, "A text file with one class name per line (adds the top_k_labels output).")
flags.DEFINE_integer("top_k", 5, "How many top classes the signatures return.")
flags.DEFINE_boolean("features", False, "Also return the pooled features (the classifier's input).")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA-compile the model call inside the signatures.")
flags.DEFINE_list("warmup", [], "Batch sizes of TF Serving warm-up requests to write, e.g. 1,8 (needs "
                  "tensorflow-serving-api).")
flags.DEFINE_boolean("check", False, "Reload the export with tf.saved_model.load and compare it with the Keras model.")
flags.DEFINE_boolean("config", True, "Write or update models.config in the parent folder of --out.")
flags.DEFINE_string("server_root", "/models", "Where the model server sees the parent folder of --out (docker mount).")
flags.DEFINE_multi_string("override", [], "For --model NAME: a hyperparameter override, key=value (value as YAML).")
flags.DEFINE_boolean("tiny", False, "For --model NAME: start from the spec's tiny test size.")
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "export")


def load_model():
    """The Keras model the flags describe: a saved `.keras` file as it is, or a zoo model built by `create`."""
    if FLAGS["from"].value and FLAGS.model:
        _fail("pass either --model or --from, not both.")
    model = common.load_model("export", FLAGS["from"].value or FLAGS.model, FLAGS.weights, FLAGS.override, FLAGS.tiny)
    if not FLAGS.weights:
        print(f"Note: no --weights given; exporting {model.name!r} with freshly initialized weights (its zero "
              "classifier gives every class the same probability).")
    return model


def main(argv):
    from keras_vit.export import ExportCheckError, export

    if len(argv) != 1:
        _fail(f"unexpected arguments {argv[1:]}; every input is a flag (--model, --out, ...).")
    if not FLAGS.out:
        _fail("pass --out DIR, the model's serving folder (e.g. models/vit_b16), or with --format the file to write.")
    common.check_output("export", FLAGS.out, "folder" if FLAGS.format == "tf_saved_model" else "file")
    model = load_model()
    saved_model_flags = [f"--{name}" for name in ("version", "labels", "top_k", "features", "jit_compile", "warmup",
                                                    "config", "server_root") if FLAGS[name].present]
    if FLAGS.format != "tf_saved_model" and saved_model_flags:
        _fail(f"{', '.join(saved_model_flags)} apply to --format tf_saved_model only; --format {FLAGS.format} "
              "writes one file with the model's probabilities.")
    # Without those flags their defaults are export's own, which the one-file formats accept.
    jit = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_compile]
    options = dict(version=FLAGS.version, labels=FLAGS.labels, top_k=FLAGS.top_k, include_features=FLAGS.features,
                   jit_compile=jit, write_config=FLAGS.config, server_root=FLAGS.server_root or None,
                   warmup_batch_sizes=[int(size) for size in FLAGS.warmup] or None)
    try:
        export(model, FLAGS.out, check=FLAGS.check, format=FLAGS.format, quantize=FLAGS.quantize, **options)
    except (ValueError, TypeError, OSError, ImportError, ExportCheckError) as error:
        _fail(str(error).removeprefix("export: "))
