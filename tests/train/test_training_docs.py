"""The Python examples of docs/training.md run (each in a fresh process, in a temporary folder; the ones that train
for minutes or need prepared tensorflow-datasets are shortened or skipped as noted)."""

import re
import sys
from pathlib import Path

import pytest

from tests.train.processes import ROOT, environment, run_all, tail

DOC = ROOT / "docs" / "training.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
# Shortened so that the examples stay tests: fewer epochs and steps, no XLA compile.
SHORTEN = [("epochs=3", "epochs=1, steps_per_epoch=3, jit_compile=False"), ("epochs=2", "epochs=1, steps_per_epoch=3")]


def runnable(block):
    return "oxford_iiit_pet" not in block  # needs a prepared tensorflow-datasets folder


@pytest.mark.slow
@pytest.mark.parametrize("index", [i for i, block in enumerate(BLOCKS) if runnable(block)])
def test_example_runs(index, tmp_path):
    code = BLOCKS[index]
    for old, new in SHORTEN:
        code = code.replace(old, new)
    script = Path(tmp_path) / "example.py"
    script.write_text(code)
    [(status, output)] = run_all([[sys.executable, str(script)]], [environment()], cwd=tmp_path, timeout=300)
    assert status == 0, tail(output)


def test_the_docs_have_examples_of_both_paths():
    assert any("keras_vit.train(" in b for b in BLOCKS) and any("model.fit(" in b for b in BLOCKS)
