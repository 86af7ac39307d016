"""The `keras-vit` command's quiet start: what it does before TensorFlow loads (stdlib only; imports nothing else).

Measured with TensorFlow 2.21 on a CPU-only machine, `import tensorflow` writes these lines to stderr from native code:

- "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", then "oneDNN custom
  operations are on" (port.cc) and "Could not find cuda drivers on your machine" (cudart_stub.cc), twice: once from
  libtensorflow_framework.so, once from the profiler's _pywrap_profiler_plugin.so, each with its own copy of absl's
  logging. Before absl::InitializeLog() absl writes every message to stderr; no environment variable silences them
  (TF_CPP_MIN_LOG_LEVEL=3 and an explicit TF_ENABLE_ONEDNN_OPTS=1 were both tried).
- "This TensorFlow binary is optimized to use available CPU instructions ..." and its "To enable the following
  instructions" line (cpu_feature_guard.cc): TensorFlow's own logging, hidden by TF_CPP_MIN_LOG_LEVEL >= 1.

and the first device probe, later, logs "failed call to cuInit" (cuda_platform.cc, an ERROR: TF_CPP_MIN_LOG_LEVEL=3).

So unless `--verbose` is given, the command sets TF_CPP_MIN_LOG_LEVEL=3 (when the user has not set it: that hides
TensorFlow's own logging) and imports TensorFlow with the process's stderr (file descriptor 2) pointed at a temporary
file, then writes back every line that is not one of the first item's lines above; anything else (a Python warning,
"Error loading CUDA libraries") still shows. No device is hidden. Importing keras_vit as a library does none of this.
"""

import os
import re
import sys
import tempfile

# The start-up lines dropped while `import tensorflow` runs: those that absl writes before absl::InitializeLog() (see
# the module docstring), as bytes: native code writes them straight to the file descriptor. The prefix is absl's:
# severity, MMDD, time, thread id, file:line. TF_CPP_MIN_LOG_LEVEL=3 hides the rest of TensorFlow's start-up lines.
_STARTUP_LINE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] (?:"
    rb"oneDNN custom operations are on"
    rb"|Could not find cuda drivers on your machine, GPU will not be used"
    # On machines with CUDA: the cuDNN/cuFFT/cuBLAS factories register once per copy of the library (two copies)
    rb"|Unable to register cu(?:DNN|FFT|BLAS) factory"
    rb")"
)

# --verbose, --noverbose and --verbose=VALUE, with the values absl accepts for a boolean flag (in any case)
_VALUES = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}
_VERBOSE_FLAGS = {"verbose": True, "noverbose": False, **{f"verbose={key}": value for key, value in _VALUES.items()}}


def pop_verbose(argv):
    """(verbose, argv without the --verbose flags) for argv = [program, ...]: `--verbose`, `--noverbose` and
    `--verbose=true|false`, anywhere before a `--`; the last one wins. A malformed value raises ValueError."""
    verbose, rest = False, list(argv[:1])
    for index, arg in enumerate(argv[1:], 1):
        if arg == "--":
            return verbose, rest + list(argv[index:])
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or name not in ("verbose", "noverbose"):
            rest.append(arg)
        elif name + sep + value.lower() in _VERBOSE_FLAGS:
            verbose = _VERBOSE_FLAGS[name + sep + value.lower()]
        else:
            raise ValueError(f"--verbose takes no value or true/false; received {arg!r}.")
    return verbose, rest


def is_command_process(argv=None, orig_argv=None):
    """Whether this process is the `keras-vit` command: its console script, or `python -m keras_vit.cli` (while the
    package imports under -m, sys.argv[0] is "-m"; sys.orig_argv still names the module)."""
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if not argv:
        return False
    if os.path.basename(argv[0]).removesuffix(".exe").removesuffix("-script.py") == "keras-vit":  # or a Windows launcher
        return True
    return argv[0] == "-m" and "-m" in orig_argv and orig_argv[orig_argv.index("-m") + 1:][:1] == ["keras_vit.cli"]


def import_tensorflow_quietly():
    """`import tensorflow`, dropping the known start-up lines that native code writes to stderr meanwhile."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to filter
        import tensorflow  # noqa: F401

        return
    with tempfile.TemporaryFile() as capture:  # a file, not a pipe: nothing blocks however much is written
        try:
            os.dup2(capture.fileno(), 2)
            import tensorflow  # noqa: F401
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = b"".join(line for line in capture.read().splitlines(keepends=True) if not _STARTUP_LINE.match(line))
            while kept:
                kept = kept[os.write(2, kept):]


def prepare_command_process():
    """In the `keras-vit` command only, and before anything imports TensorFlow: set TensorFlow's environment and import
    it, quietly unless --verbose is given (see the module docstring). Runs when this module is first imported."""
    import importlib.util

    if "tensorflow" in sys.modules or not is_command_process() or importlib.util.find_spec("tensorflow") is None:
        return
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return  # the zoo on JAX or torch needs no TensorFlow (its tf.data / export commands import it when used)
    # oneDNN's fused CPU kernels: TensorFlow leaves them off on some CPUs (docs/speed.md).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    try:
        verbose, _ = pop_verbose(sys.argv)
    except ValueError:
        verbose = False  # keras_vit.cli reports the malformed flag
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import_tensorflow_quietly()


# keras_vit/__init__.py imports this module before anything else, so that in the `keras-vit` command this runs before
# TensorFlow loads (keras_vit.cli itself is imported after the package, and so after TensorFlow).
prepare_command_process()
