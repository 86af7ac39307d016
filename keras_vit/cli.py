"""The `keras-vit` command: `keras-vit COMMAND [--flags]`.

Each command lives in its own module under `keras_vit.commands`, which defines its absl flags and a `main(argv)`;
only the chosen command's module is imported, so its flags are the only ones parsed.
"""

from __future__ import annotations

import importlib
import os
import sys

# command -> (module, one-line help)
COMMANDS = {
    "list": ("keras_vit.commands.list_models", "list zoo models (optionally matching a pattern)"),
    "show": ("keras_vit.commands.show", "print a model's resolved spec and Keras summary"),
    "convert": ("keras_vit.commands.convert", "convert a published checkpoint to a Keras .weights.h5 file"),
    "export": ("keras_vit.commands.export", "write a versioned SavedModel for TF Serving (+ models.config)"),
    "train": ("keras_vit.commands.train", "train a model as a recipe says (registry/recipes), model.fit under tf.distribute"),
    "benchmark": ("keras_vit.commands.benchmark", "speed and memory of a model beside keras-hub and timm"),
}


def _usage():
    lines = ["usage: keras-vit COMMAND [--flags]   (keras-vit COMMAND --helpfull for a command's flags)", ""]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command = argv[1]
    if command not in COMMANDS:
        from keras_vit.registry import suggest

        print(f"keras-vit: unknown command {command!r}.{suggest(command, COMMANDS)}\n\n{_usage()}", file=sys.stderr)
        return 2
    # TensorFlow reads these when it loads: quiet C++ logs unless the user asked for them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's fused CPU kernels: TensorFlow leaves them off on some CPUs (matmul 108 vs 141 GFLOP/s measured here).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    module = importlib.import_module(COMMANDS[command][0])
    from absl import app

    app.run(module.main, argv=[f"keras-vit {command}", *argv[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
