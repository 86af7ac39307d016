"""`keras-vit quantize --from FILE.keras --out FILE_int8.keras`: int8 weights through Keras's model.quantize("int8")
(Dense and EinsumDense layers; see keras_vit.quantization), saved as a .keras file that loads and exports like any
other (`keras-vit export --from FILE_int8.keras ...`, or `keras-vit export --quantize int8` in one step)."""

import functools
import os

from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("from", None, "The float .keras model to quantize (what training writes).")
flags.DEFINE_string("out", None, "The .keras file to write (never overwritten).")
flags.DEFINE_enum("mode", "int8", ["int8"], "The quantization mode.")
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "quantize")


def main(argv):
    if len(argv) != 1:
        _fail(f"unexpected arguments {argv[1:]}; pass --from FILE.keras --out FILE.keras.")
    source, out = FLAGS["from"].value, FLAGS.out
    if not source or not out:
        _fail("pass --from FILE.keras (a saved float model) and --out FILE.keras.")
    if not source.endswith(".keras") or not out.endswith(".keras"):
        _fail(f"--from and --out are .keras files; received --from {source!r} --out {out!r}.")
    if os.path.exists(out):
        _fail(f"{out!r} exists already; pass another --out or delete it yourself.")
    common.check_output("quantize", out, "file")
    from keras_vit.quantization import quantize, quantized_layers

    model = common.load_keras_file(source, "quantize")
    try:
        quantized = quantize(model, FLAGS.mode)
    except (ValueError, TypeError) as error:
        _fail(str(error).removeprefix("quantize: "))
    quantized.save(out)
    print(f"Wrote {out}: {model.name!r} with {len(quantized_layers(quantized))} {FLAGS.mode} layers "
          f"({os.path.getsize(source) / 1e6:.1f} MB -> {os.path.getsize(out) / 1e6:.1f} MB).")
