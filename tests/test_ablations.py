"""benchmarks/ablations/position_encoding.py --smoke: the outputs' structure (runs.json, results.md,
results.png), the cells the ViT family refuses, and the papers' numbers beside ours. No accuracy is asserted:
two short epochs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ablations" / "position_encoding.py"
RUN_KEYS = {
    "cell",
    "family",
    "seed",
    "eval_accuracy",
    "eval_loss",
    "train_accuracy",
    "train_loss",
    "parameters",
    "epochs",
    "fit_seconds",
    "seconds",
    "cpu_seconds",
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    pytest.importorskip("matplotlib")
    pytest.importorskip("mlxtend")
    output = tmp_path_factory.mktemp("ablation")
    subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--output_dir", str(output)], check=True, timeout=900
    )
    return output


@pytest.mark.slow  # ~1 min on an idle 2-core machine, 2.5-3 min on a loaded one
def test_smoke_outputs(smoke):
    result = json.loads((smoke / "runs.json").read_text())
    assert result["config"]["smoke"] and result["config"]["seeds"] == 1 and result["config"]["epochs"] == 2
    runs = result["runs"]
    # three cells, one seed: one row per run
    assert [r["cell"] for r in runs] == ["vit/none/stem", "vit/learned_1d/stem", "tnt/patch+pixel"]
    for run in runs:
        assert set(run) == RUN_KEYS
        assert run["seed"] == 0 and run["epochs"] == 2
        assert 0.0 <= run["eval_accuracy"] <= 1.0 and run["eval_loss"] > 0 and run["seconds"] > 0
    # learned_1d at the stem adds one (16, 64) table to the position-free model: 16 patches of 7x7, width 64
    assert runs[1]["parameters"] - runs[0]["parameters"] == 16 * 64
    # one seed: the cell's mean is its one run, and there is no spread to state
    cells = {row["cell"]: row for row in result["cells"]}
    assert cells["vit/none/stem"]["runs"] == 1 and cells["vit/none/stem"]["accuracy_std"] is None
    assert cells["vit/none/stem"]["accuracy_mean"] == runs[0]["eval_accuracy"]
    # the family refuses these combinations (keras_vit.models.vit.ViT.check_hyperparameters), and says why
    invalid = result["invalid_cells"]
    assert set(invalid) == {"vit/none/every_layer", "vit/none/every_layer_shared", "vit/relative/stem"}
    assert "every_layer" in invalid["vit/relative/stem"]


@pytest.mark.slow
def test_smoke_table_and_plot(smoke):
    text = (smoke / "results.md").read_text()
    assert "paper: ViT-B/16 ImageNet 5-shot" in text and "paper: TNT-S ImageNet top-1" in text
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| vit/") or line.startswith("| tnt/")
    }
    # the papers' numbers (ViT appendix Table 8; TNT's ablation, v1 of the paper)
    assert rows["vit/none/stem"].rstrip(" |").endswith("0.61382")
    assert rows["vit/learned_1d/stem"].rstrip(" |").endswith("0.64206")
    assert rows["tnt/patch+pixel"].rstrip(" |").endswith("81.3")
    assert "| invalid |" in rows["vit/relative/stem"]
    png = (smoke / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 300 and height > 200


FULL_RUN = SCRIPT.parent.parent / "results" / "ablations"
DOC = SCRIPT.parent.parent.parent / "docs" / "ablations.md"


def test_committed_full_run_is_complete_and_docs_quote_it():
    """The committed full run has 3 seeds of every valid cell (12 ViT + 4 TNT), and every "mean ± std" in
    docs/ablations.md's result tables is recomputed here from runs.json."""
    import re
    import statistics

    runs = json.loads((FULL_RUN / "runs.json").read_text())["runs"]
    seeds = {}
    for run in runs:
        seeds.setdefault(run["cell"], set()).add(run["seed"])
    assert len(seeds) == 16 and all(s == {0, 1, 2} for s in seeds.values())
    quoted = re.findall(r"^\| [^|]+ \| (\d+\.\d) ± (\d+\.\d) \|", DOC.read_text(), flags=re.M)
    computed = set()
    for cell in seeds:
        accuracies = [100 * r["eval_accuracy"] for r in runs if r["cell"] == cell]
        computed.add((f"{statistics.mean(accuracies):.1f}", f"{statistics.stdev(accuracies):.1f}"))
    assert len(quoted) == 15  # 11 ViT rows (sin-cos every layer = shared) + 4 TNT rows
    assert set(quoted) <= computed
