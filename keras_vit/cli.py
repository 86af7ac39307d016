"""The `keras-vit` command: `keras-vit [--verbose] COMMAND [--flags]`.

Each command lives in its own module under `keras_vit.commands`, which defines its absl flags and a `main(argv)`;
only the chosen command's module is imported, so its flags are the only ones parsed. `keras-vit COMMAND --help` lists
them, one line each; `--helpfull` adds absl's and TensorFlow's. TensorFlow's start-up and INFO lines are hidden unless
`--verbose` is given (see keras_vit._startup).
"""

import importlib
import re
import sys

from keras_vit import _startup

# command -> (module, one-line help)
COMMANDS = {
    "list": ("keras_vit.commands.list_models", "list zoo models (optionally matching a pattern)"),
    "show": ("keras_vit.commands.show", "print a model's resolved spec and Keras summary"),
    "convert": ("keras_vit.commands.convert", "convert a published checkpoint to a Keras .weights.h5 file"),
    "export": ("keras_vit.commands.export", "write a versioned SavedModel for TF Serving (+ models.config)"),
    "quantize": ("keras_vit.commands.quantize", "save an int8 copy of a .keras model (Keras's model.quantize)"),
    "train": ("keras_vit.commands.train", "train a model as a recipe says (registry/recipes), model.fit under tf.distribute"),
    "evaluate": ("keras_vit.commands.evaluate", "COCO AP of a detector or mean IoU of a segmenter (a SavedModel or .keras)"),
    "explain": ("keras_vit.commands.explain", "PNG overlays of where a model looks (attention, rollout) and its figures"),
}
# Commands that moved out of the package: one line saying where they are now.
MOVED = {"benchmark": "the benchmarks live outside the package now: `python -m benchmarks peers MODEL ...` from a "
                      "checkout's root (docs/speed.md)."}

_HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "-helpshort", "-?")
_VERBOSE_HELP = "Show TensorFlow's start-up, C++ and INFO log lines (a flag of every command, before or after it)."


def _usage():
    rows = [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(["usage: keras-vit [--verbose] COMMAND [--flags]   (keras-vit COMMAND --help for a command's flags)",
                      "", *rows, "", f"  --verbose  {_VERBOSE_HELP}"])


def _format_default(flag):
    # absl's default_as_str: the default as a command line writes it (true, a,b, ...), in quotes
    value = "" if flag.default in (None, []) else flag.default_as_str[1:-1] or "''"
    return value and f" (default: {value})"


def command_help(command, module):
    """`keras-vit COMMAND --help`: the command's usage and its own flags, one line each (name, help, default)."""
    from absl import flags

    match = re.match(r"\s*`([^`]+)`", module.__doc__ or "")
    usage = match.group(1) if match else f"keras-vit {command} [--flags]"
    rows = []
    for flag in flags.FLAGS.get_flags_for_module(module):  # in the order the module defines them
        name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
        text = " ".join(flag.help.split()).removesuffix("; repeat this option to specify a list of values")
        if isinstance(flag, flags.MultiFlag) and "repeatable" not in text.lower():
            text += " Repeatable."
        rows.append((name, text + _format_default(flag)))
    rows += [("--[no]verbose", _VERBOSE_HELP), ("--helpfull", "Every flag, absl's and TensorFlow's included.")]
    width = min(max(len(name) for name, _ in rows), 22)
    lines = [f"usage: {usage}", "", f"{COMMANDS[command][1][0].upper()}{COMMANDS[command][1][1:]}.", "", "flags:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in rows]
    return "\n".join(lines)


def _wants_help(args):
    for arg in args:
        if arg == "--":
            return False
        if arg in _HELP_FLAGS or arg.startswith("--help="):
            return arg.partition("=")[2].lower() not in ("false", "f", "0")
    return False


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    try:
        verbose, argv = _startup.pop_verbose(argv)
    except ValueError as error:
        print(f"keras-vit: {error}", file=sys.stderr)
        return 2
    if argv[1:2] == ["help"] and argv[2:3] and argv[2] in COMMANDS:
        argv = [argv[0], argv[2], "--help"]
    if len(argv) < 2 or argv[1] in ("help", *_HELP_FLAGS):
        print(_usage())
        return 0
    command = argv[1]
    if command in MOVED:
        print(f"keras-vit {command}: {MOVED[command]}", file=sys.stderr)
        return 2
    if command not in COMMANDS:
        from keras_vit.registry import suggest

        print(f"keras-vit: unknown command {command!r}.{suggest(command, COMMANDS)}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    if _wants_help(argv[2:]):
        print(command_help(command, module))
        return 0
    from absl import app

    # Without --verbose, Python INFO log lines (a SavedModel export logs every function and asset) are hidden
    # through absl's own flag (app.run sets INFO otherwise); a --verbosity of the user's comes later and wins.
    quiet = [] if verbose else ["--verbosity=-1"]
    app.run(module.main, argv=[f"keras-vit {command}", *quiet, *argv[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
