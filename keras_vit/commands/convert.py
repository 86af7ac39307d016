"""`keras-vit convert SRC OUT.weights.h5 --model NAME`: convert a published checkpoint (.npz, .safetensors,
.pth/.bin) or a zoo model's `.keras` file (model.save, `keras-vit train`'s model.keras or checkpoints/epoch_NNN.keras)
into a Keras weights file, checked strictly on the way (see keras_vit.weights).

The output is an ordinary Keras `.weights.h5` (`model.load_weights` reads it into the same model) that also carries
the model's config, so `create(NAME, weights=OUT)` rebuilds it, or builds it at another image size or
number of classes (position table resampled, head dropped).
"""

import functools
import hashlib
import os

from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("model", None, "Zoo model name (keras-vit list), alias or YAML spec the checkpoint is for.")
flags.DEFINE_multi_string("override", [], "A model hyperparameter, key=value (e.g. image_size=384, num_classes=10).")
flags.DEFINE_enum("interpolation", "bilinear", ["bilinear", "bicubic"], "Position-table resampling.")
flags.DEFINE_boolean("overwrite", False, "Replace OUT if it exists.")
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "convert")

USAGE = ("usage: keras-vit convert SRC OUT.weights.h5 --model NAME [--override key=value ...]\n"
         "SRC: a .npz, .safetensors, .pth/.bin, .weights.h5 or a zoo model's .keras file")


def _progress():
    """progress(done, total) for `create`: a Keras progress bar over the tensors read."""
    import keras

    bar = keras.utils.Progbar(None, unit_name="tensor")

    def progress(done, total):
        bar.target = total
        bar.update(done)

    return progress


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv):
    if len(argv) != 3 or not FLAGS.model:
        raise SystemExit(USAGE)
    source, out = argv[1], argv[2]
    if not out.endswith(".weights.h5"):
        _fail(f"OUT must end in .weights.h5 (a Keras weights file); received {out!r}.")
    if os.path.abspath(source) == os.path.abspath(out):
        _fail("OUT must differ from SRC (the source file is never modified).")
    if os.path.exists(out) and not FLAGS.overwrite:
        _fail(f"{out} exists; pass --overwrite to replace it.")
    common.check_output("convert", out, "file")

    from keras_vit import weights
    from keras_vit.zoo import create

    try:
        overrides = common.parse_overrides(FLAGS.override, "convert")
        model = create(FLAGS.model, weights=source, interpolation=FLAGS.interpolation, progress=_progress(), **overrides)
    except (ValueError, KeyError) as error:  # SpecError and CheckpointError are ValueErrors
        _fail(str(error))
    weights.write_weights_file(model, out)
    print(model.weights_report)
    print(f"model: {FLAGS.model} ({model.count_params():,} parameters, input {model.input_shape[1:]})")
    print(f"wrote {out} (sha256 {sha256(out)})")
