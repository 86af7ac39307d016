"""The one entry point of the benchmarks: `python -m benchmarks COMMAND [options]`, run from a checkout's root.

    python -m benchmarks peers vit_b16 --batch_size 8 --cases keras_vit:predict,keras_hub:predict,keras_hub:call
    python -m benchmarks serving --model vit_b16 --batch 8 --rounds 5

`peers` writes OUTPUT_DIR/MODEL_bBATCH.{json,md,png} and prints the Markdown table; `serving` prints one line per
variant. `python -m benchmarks COMMAND --help` lists a command's options. See docs/speed.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

PROG = "python -m benchmarks"


def _add_peers_arguments(parser):
    parser.add_argument("model", help="zoo model name or timm alias (see `keras-vit list`)")
    parser.add_argument("--cases", type=lambda text: [c for c in text.split(",") if c], default=None,
                        help="comma-separated cases peer:mode (default: all; see benchmarks/peers/cases.py); missing "
                             "peers (keras-hub, timm: pip install 'keras-vit[bench]') are skipped")
    parser.add_argument("--batch_size", type=int, default=8, help="images per step (default: %(default)s)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a model hyperparameter override, value parsed as YAML; repeatable")
    parser.add_argument("--tiny", action="store_true", help="use the spec's tiny test size (overrides apply on top)")
    parser.add_argument("--rounds", type=int, default=5, help="timed, interleaved samples per case (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed runs per case before timing, compilation included (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=1, help="runs per timed sample (default: %(default)s)")
    parser.add_argument("--reference", default=None,
                        help="the case ratios are reported against (default: the first peer case)")
    parser.add_argument("--output_dir", default="benchmark_results",
                        help="folder for the JSON, Markdown and PNG files and worker logs (default: %(default)s)")
    parser.add_argument("--onednn", action=argparse.BooleanOptionalAction, default=True,
                        help="set TF_ENABLE_ONEDNN_OPTS=1 in the workers unless already set (default: on)")
    parser.add_argument("--noonednn", dest="onednn", action="store_false", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds a worker may take to answer, setup and warm-up included (default: %(default)s)")


def parse_overrides(items):
    """["image_size=384", "pooling=gap"] -> {"image_size": 384, "pooling": "gap"} (values parsed as YAML)."""
    import yaml

    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--override takes key=value (for example image_size=384); received {item!r}.")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def run_peers(args, command):
    """The peer benchmark: validates the model, overrides and cases, runs, writes the report, prints its table."""
    import keras_vit
    from benchmarks.peers import run_benchmark, write_report
    from benchmarks.peers.cases import parse_case

    try:
        spec = keras_vit.get_spec(args.model)
        overrides = dict(spec.tiny) if args.tiny else {}
        overrides.update(parse_overrides(args.override))
        keras_vit.get_spec(args.model, **overrides)
        for case in args.cases or []:
            parse_case(case)
    except (keras_vit.SpecError, ValueError) as error:
        raise SystemExit(f"{PROG} peers: {error}") from None
    report = run_benchmark(
        spec.name, args.cases, batch_size=args.batch_size, overrides=overrides, rounds=args.rounds,
        warmup=args.warmup, iterations=args.iterations, onednn=args.onednn,
        log_dir=os.path.join(args.output_dir, "logs"), timeout_s=args.timeout, reference=args.reference,
        echo=lambda message: print(message, file=sys.stderr, flush=True),
    )
    paths = write_report(report, args.output_dir, command=command)
    with open(paths["markdown"]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths.values()), file=sys.stderr)


def parser():
    from benchmarks import serving

    main_parser = argparse.ArgumentParser(prog=PROG, description="keras_vit's benchmarks (docs/speed.md).")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    peers = commands.add_parser("peers", help="speed and memory of a zoo model beside keras-hub and timm",
                                description="Speed and memory of a zoo model beside keras-hub and timm, one worker "
                                            "process per case, interleaved rounds.")
    _add_peers_arguments(peers)
    serving_parser = commands.add_parser("serving", help="an exported SavedModel against the in-process XLA call",
                                         description=serving.__doc__.splitlines()[0])
    serving.add_arguments(serving_parser)
    return main_parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ start-up lines
    if args.command == "peers":
        run_peers(args, command=f"{PROG} " + " ".join(shlex.quote(a) for a in argv if a))
    else:
        from benchmarks import serving

        serving.run(args)
    return 0
