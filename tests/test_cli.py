"""The `keras-vit` command: list and show, and its errors."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def keras_vit_cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_list_prints_the_zoo_with_counts():
    result = keras_vit_cli("list", "vit_l??")  # vit_l* also matches hybrids through their timm aliases (vit_large_r50_...)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["vit_l16", "vit_l32"]
    assert "304.33M" in lines[0]


def test_show_prints_spec_and_summary_with_overrides():
    result = keras_vit_cli("show", "vit_ti16", "--tiny", "--override", "num_classes=4")
    assert result.returncode == 0, result.stderr
    assert "num_classes: 4" in result.stdout and "hidden_dim: 32" in result.stdout  # tiny size, then overrides
    assert "block_0 (TransformerBlock)" in result.stdout
    result = keras_vit_cli("show", "vit_ti16", "--override", "num_classes=4", "--nosummary")
    assert "num_classes: 4" in result.stdout and "TransformerBlock" not in result.stdout


def test_errors_are_one_clear_line():
    result = keras_vit_cli("show", "vit_b17")
    assert result.returncode != 0
    assert "Unknown model 'vit_b17'. Did you mean 'vit_b16'" in result.stderr
    assert "Traceback" not in result.stderr
    result = keras_vit_cli("shwo")
    assert result.returncode == 2 and "Did you mean 'show'" in result.stderr


def test_overrides_parse_as_yaml_and_a_malformed_one_names_itself():
    import pytest

    from keras_vit.commands.overrides import parse_overrides

    assert parse_overrides(["image_size=384", "pooling=gap", "stem={padding: same}"], "show") == {
        "image_size": 384, "pooling": "gap", "stem": {"padding": "same"}
    }
    with pytest.raises(SystemExit, match=r"keras-vit export: --override takes key=value .* received 'image_size'"):
        parse_overrides(["image_size"], "export")
