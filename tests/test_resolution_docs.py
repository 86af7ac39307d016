"""The runnable examples of docs/resolution.md run (those that train or export, in the slow step)."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "resolution.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", [
    pytest.param(i, marks=pytest.mark.slow) if "keras_vit.export(" in block or ".fit(" in block else i
    for i, block in enumerate(BLOCKS)
])
def test_example_runs(index):
    exec(compile(BLOCKS[index], f"{DOC}:block{index}", "exec"), {})


def test_index_links_the_page():
    assert "(resolution.md)" in (DOC.parent / "index.md").read_text(encoding="utf-8")
