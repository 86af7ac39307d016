"""`keras-vit benchmark MODEL [--cases ...]`: speed and memory of a zoo model side by side with keras-hub and timm.

    keras-vit benchmark vit_b16 --batch_size 8 --cases keras_vit:predict,keras_hub:predict,keras_hub:call

Writes OUTPUT_DIR/MODEL_bBATCH.{json,md,png} and prints the Markdown table. See docs/speed.md.
"""

import shlex
import sys

from absl import flags

from keras_vit.commands.overrides import parse_overrides

flags.DEFINE_list("cases", None, "Cases peer:mode (default: all; see keras_vit/benchmark/cases.py). Missing peers "
                  "(keras-hub, timm: pip install 'keras-vit[bench]') are skipped.")
flags.DEFINE_integer("batch_size", 8, "Images per step.")
flags.DEFINE_multi_string("override", [], "A model hyperparameter override, key=value (value parsed as YAML).")
flags.DEFINE_boolean("tiny", False, "Use the spec's tiny test size (overrides apply on top).")
flags.DEFINE_integer("rounds", 5, "Timed, interleaved samples per case.")
flags.DEFINE_integer("warmup", 2, "Untimed runs per case before timing (compilation happens there).")
flags.DEFINE_integer("iterations", 1, "Runs per timed sample.")
flags.DEFINE_string("reference", None, "The case ratios are reported against (default: the first peer case).")
flags.DEFINE_string("output_dir", "benchmark_results", "Folder for the JSON, Markdown and PNG files and worker logs.")
flags.DEFINE_boolean("onednn", True, "Set TF_ENABLE_ONEDNN_OPTS=1 in the workers (unless already set).")
flags.DEFINE_integer("timeout", 1800, "Seconds a worker may take to answer (setup and warm-up included).")
FLAGS = flags.FLAGS



def main(argv):
    import keras_vit
    from keras_vit.benchmark import run_benchmark, write_report
    from keras_vit.benchmark.cases import parse_case

    if len(argv) != 2:
        raise SystemExit("usage: keras-vit benchmark MODEL [--cases peer:mode,...] (see `keras-vit list`)")
    try:
        spec = keras_vit.get_spec(argv[1])
        overrides = dict(spec.tiny) if FLAGS.tiny else {}
        overrides.update(parse_overrides(FLAGS.override, "benchmark"))
        keras_vit.get_spec(argv[1], **overrides)
        for case in FLAGS.cases or []:
            parse_case(case)
    except (keras_vit.SpecError, ValueError) as error:
        raise SystemExit(f"keras-vit benchmark: {error}") from None
    report = run_benchmark(
        spec.name, FLAGS.cases, batch_size=FLAGS.batch_size, overrides=overrides, rounds=FLAGS.rounds,
        warmup=FLAGS.warmup, iterations=FLAGS.iterations, onednn=FLAGS.onednn,
        log_dir=f"{FLAGS.output_dir}/logs", timeout_s=FLAGS.timeout, reference=FLAGS.reference,
        echo=lambda message: print(message, file=sys.stderr, flush=True),
    )
    command = "keras-vit benchmark " + " ".join(shlex.quote(a) for a in sys.argv[2:] if a)
    paths = write_report(report, FLAGS.output_dir, command=command)
    with open(paths["markdown"]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths.values()), file=sys.stderr)
