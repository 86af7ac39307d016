"""The `keras-vit` command: list and show, their errors, per-command help and a quiet TensorFlow start."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What TensorFlow 2.21 prints at start-up on a machine like this one (see keras_vit/_startup.py).
STARTUP_MARKERS = (
    "absl::InitializeLog()", "oneDNN custom operations are on", "Could not find cuda drivers", "failed call to cuInit",
    "cpu_feature_guard", "This TensorFlow binary is optimized",
)


def environment():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # run the command as a user would (conftest sets it for this process)
    return env


def keras_vit_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", *args], env=environment(), capture_output=True, text=True, timeout=300
    )


def startup_lines(text):
    return [line for line in text.splitlines() if any(marker in line for marker in STARTUP_MARKERS)]


def load_startup_module():
    """keras_vit/_startup.py on its own (importing it through the package would import TensorFlow)."""
    spec = importlib.util.spec_from_file_location("_startup_alone", REPO / "keras_vit" / "_startup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_list_prints_the_zoo_with_counts():
    result = keras_vit_cli("list", "vit_l??")  # vit_l* also matches hybrids through their timm aliases (vit_large_r50_...)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["vit_l16", "vit_l32"]
    assert "304.33M" in lines[0]
    assert startup_lines(result.stdout + result.stderr) == []  # TensorFlow's start-up lines only with --verbose


def test_show_prints_spec_and_summary_with_overrides():
    result = keras_vit_cli("show", "vit_ti16", "--tiny", "--override", "num_classes=4")
    assert result.returncode == 0, result.stderr
    assert "num_classes: 4" in result.stdout and "hidden_dim: 32" in result.stdout  # tiny size, then overrides
    assert "block_0 (TransformerBlock)" in result.stdout
    assert startup_lines(result.stdout + result.stderr) == []  # building the model probes devices: no cuInit line
    result = keras_vit_cli("show", "vit_ti16", "--override", "num_classes=4", "--nosummary")
    assert "num_classes: 4" in result.stdout and "TransformerBlock" not in result.stdout
    # the published weights, with timm's top-1 (results-imagenet.csv: vit_tiny_patch16_224.augreg_in21k_ft_in1k 75.452)
    assert ("weights vit_ti16.augreg_in21k_ft_in1k: 224px, 1000 classes, ImageNet top-1 75.45 "
            "(timm vit_tiny_patch16_224.augreg_in21k_ft_in1k)") in result.stdout


@pytest.mark.slow  # three command processes; the quiet default is checked by the list and show tests
def test_verbose_shows_what_tensorflow_prints_at_start_up():
    # What this machine prints when nothing filters it, measured here: a plain `import tensorflow`.
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], env=environment(), capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    printed = startup_lines(plain.stderr)
    after = keras_vit_cli("show", "vit_ti16", "--tiny", "--nosummary", "--verbose")
    before = keras_vit_cli("--verbose", "show", "vit_ti16", "--tiny", "--nosummary")  # a global flag, either place
    for result in (after, before):
        assert result.returncode == 0, result.stderr[-3000:]
        assert "hidden_dim: 32" in result.stdout and startup_lines(result.stdout) == []
        if printed:
            assert startup_lines(result.stderr), f"--verbose hid TensorFlow's start-up lines {printed}: {result.stderr}"
    assert after.stdout == before.stdout


def test_command_help_lists_its_own_flags_one_per_line():
    result = keras_vit_cli("train", "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.rstrip().splitlines()
    assert lines[0].startswith("usage: keras-vit train --recipe") and len(lines) < 40, result.stdout
    flag_lines = [line for line in lines if line.startswith("  --")]  # one line per flag: name, help, default
    names = [line.split()[0] for line in flag_lines]
    assert len(names) == len(set(names)), result.stdout
    for name in ("--recipe", "--epochs", "--set", "--[no]dry_run", "--export", "--[no]verbose", "--helpfull"):
        assert name in names, result.stdout
    recipe = flag_lines[names.index("--recipe")]
    assert "recipe YAML file" in recipe and recipe.endswith("(default: mnist_vit)")
    for absl_or_tensorflow in ("--logtostderr", "--verbosity", "--test_tmpdir", "--helpxml", "Try --helpfull"):
        assert absl_or_tensorflow not in result.stdout
    assert startup_lines(result.stdout + result.stderr) == []


def test_errors_are_one_clear_line():
    result = keras_vit_cli("show", "vit_b17")
    assert result.returncode != 0
    assert "Unknown model 'vit_b17'. Did you mean 'vit_b16'" in result.stderr
    assert "Traceback" not in result.stderr
    result = keras_vit_cli("shwo")
    assert result.returncode == 2 and "Did you mean 'show'" in result.stderr


def test_benchmark_moved_out_of_the_command_says_where(capsys):
    from keras_vit.cli import COMMANDS, main

    assert "benchmark" not in COMMANDS
    assert main(["keras-vit", "benchmark", "vit_b16"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "python -m benchmarks peers MODEL" in error, error


def test_overrides_parse_as_yaml_and_a_malformed_one_names_itself():
    import pytest

    from keras_vit.commands.common import parse_overrides

    assert parse_overrides(["image_size=384", "pooling=gap", "stem={padding: same}"], "show") == {
        "image_size": 384, "pooling": "gap", "stem": {"padding": "same"}
    }
    with pytest.raises(SystemExit, match=r"keras-vit export: --override takes key=value .* received 'image_size'"):
        parse_overrides(["image_size"], "export")


def test_verbose_flag_parsing_and_which_process_is_the_command():
    import pytest

    startup = load_startup_module()
    assert startup.pop_verbose(["keras-vit", "--verbose", "train", "--epochs=1"]) == (True, ["keras-vit", "train", "--epochs=1"])
    assert startup.pop_verbose(["keras-vit", "train", "--verbose", "--noverbose"]) == (False, ["keras-vit", "train"])
    assert startup.pop_verbose(["keras-vit", "train", "--verbose=false", "-verbose"]) == (True, ["keras-vit", "train"])
    assert startup.pop_verbose(["keras-vit", "list", "--", "--verbose"]) == (False, ["keras-vit", "list", "--", "--verbose"])
    with pytest.raises(ValueError, match="--verbose takes no value or true/false; received '--verbose=loud'"):
        startup.pop_verbose(["keras-vit", "list", "--verbose=loud"])
    assert startup.is_command_process(["/venv/bin/keras-vit", "list"], ["python", "/venv/bin/keras-vit", "list"])
    assert startup.is_command_process(["-m", "list"], ["python", "-X", "utf8", "-m", "keras_vit.cli", "list"])
    assert not startup.is_command_process(["-m", "list"], ["python", "-m", "pytest", "list"])
    assert not startup.is_command_process(["/venv/bin/pytest", "tests"], ["python", "/venv/bin/pytest", "tests"])


def test_only_known_start_up_lines_are_dropped_while_tensorflow_imports(tmp_path):
    # A stand-in `tensorflow` that writes to file descriptor 2 as the native libraries do, plus two lines to keep.
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(
        "import os, sys\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n'\n"
        "            b'I0000 00:00:1796023513.495434   16011 port.cc:153] oneDNN custom operations are on. You may see\\n'\n"
        "            b'I0000 00:00:1796023513.495737   16011 cudart_stub.cc:31] Could not find cuda drivers on your '\n"
        "            b'machine, GPU will not be used.\\n'\n"
        "            b'W0000 00:00:1796023513.495737   16011 cudart_stub.cc:40] Error loading CUDA libraries. GPU will '\n"
        "            b'not be used.\\n')\n"
        "print('a Python warning', file=sys.stderr)\n"
    )
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {str(REPO / 'keras_vit' / '_startup.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print('before', file=sys.stderr, flush=True)\n"
        "module.import_tensorflow_quietly()\n"
        "print('after', file=sys.stderr)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "before",
        "W0000 00:00:1796023513.495737   16011 cudart_stub.cc:40] Error loading CUDA libraries. GPU will not be used.",
        "a Python warning",
        "after",
    ]


def test_explain_into_an_existing_file_is_one_line(tmp_path):
    # Issue 27: `keras-vit explain --output_dir <an existing file>` crashed with a FileExistsError traceback.
    file = tmp_path / "taken"
    file.write_text("a file")
    result = keras_vit_cli("explain", "x.png", "--model", "vit_ti16", "--output_dir", str(file))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"keras-vit explain: {file} is a file; pass a folder path." in result.stderr


def test_output_paths_that_are_files_inside_files_or_unwritable_are_refused(tmp_path):
    from keras_vit.commands.common import check_output

    file = tmp_path / "taken"
    file.write_text("a file")
    cases = [
        (file, "folder", f"{file} is a file; pass a folder path."),
        (tmp_path, "file", f"{tmp_path} is a folder; pass a file path."),
        (file / "run" / "deeper", "folder", f"cannot write {file / 'run' / 'deeper'}: {file} is a file, not a folder."),
        (file / "out.keras", "file", f"cannot write {file / 'out.keras'}: {file} is a file, not a folder."),
    ]
    if Path("/sys").is_dir():  # sysfs refuses new files, even to root
        cases.append((Path("/sys/keras_vit/out.keras"), "file", "cannot write /sys/keras_vit/out.keras: /sys is not "
                      "writable (Permission denied)."))
    for path, kind, message in cases:
        with pytest.raises(SystemExit, match=f"^keras-vit export: {re.escape(message)}$"):
            check_output("export", str(path), kind)
    check_output("export", str(tmp_path / "new" / "models"))  # a folder still to be made under a writable one
    check_output("export", str(tmp_path / "model.onnx"), "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # the checks write nothing that stays


@pytest.mark.slow  # ~15 s per command on 2 shared cores
def test_every_command_checks_its_output_path_before_working(tmp_path):
    file = tmp_path / "taken"
    file.write_text("a file")
    cases = [
        (("train", "--output_dir", str(file / "run")), f"keras-vit train: cannot write {file / 'run'}: {file} is a file"),
        (("train", "--export", str(file)), f"keras-vit train: {file} is a file; pass a folder path."),
        (("export", "--model", "vit_ti16", "--tiny", "--out", str(file / "models" / "m")),
         f"keras-vit export: cannot write {file / 'models' / 'm'}: {file} is a file"),
        (("export", "--model", "vit_ti16", "--format", "onnx", "--out", str(tmp_path)),
         f"keras-vit export: {tmp_path} is a folder; pass a file path."),
        (("convert", "in.npz", str(file / "out.weights.h5"), "--model", "vit_ti16"),
         f"keras-vit convert: cannot write {file / 'out.weights.h5'}: {file} is a file"),
        (("quantize", "--from", "in.keras", "--out", str(file / "int8.keras")),
         f"keras-vit quantize: cannot write {file / 'int8.keras'}: {file} is a file"),
    ]
    for args, message in cases:
        result = keras_vit_cli(*args)
        assert result.returncode != 0 and "Traceback" not in result.stderr, (args, result.stderr[-2000:])
        assert message in result.stderr, (args, result.stderr[-2000:])
    assert file.read_text() == "a file" and not (tmp_path / "runs").exists()
