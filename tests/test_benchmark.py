"""benchmarks/ (outside the package): the peer runner's report structure on a tiny model, paired ratios, reports,
errors, workers that always end; `python -m benchmarks`'s options. No timed assertions: speeds are only checked to be
positive numbers."""

import json
import os
import re

import pytest

import benchmarks.peers
from benchmarks import cli
from benchmarks.peers import markdown, run_benchmark, write_report
from benchmarks.peers.cases import parse_case
from benchmarks.peers.runner import paired_ratio
from keras_vit import get_spec

TINY = dict(get_spec("vit_ti16").tiny)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie would mean nobody waited for it
        return f.read().split()[2] != "Z"


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    cases = ["keras_vit:predict", "keras_vit:call", "keras_vit:saved_model"]
    return run_benchmark("vit_ti16", cases, batch_size=2, overrides=TINY, rounds=2, warmup=1, log_dir=str(logs),
                         echo=None)


def test_report_structure(tiny_report):
    report = tiny_report
    assert [row["case"] for row in report["results"]] == ["keras_vit:predict", "keras_vit:call",
                                                          "keras_vit:saved_model"]
    assert report["failed"] == {} and report["skipped"] == {}
    assert report["matmul_ceiling_gflops_per_s"] > 0  # the ceiling case is always added
    assert report["reference"] == "keras_vit:predict"  # no peer ran: the first case
    for row in report["results"]:
        assert len(row["samples_s"]) == 2 and all(t > 0 for t in row["samples_s"])
        assert row["images_per_s"] == pytest.approx(2 / row["median_s"])
        assert row["gflops_per_s"] > 0 and row["fraction_of_ceiling"] > 0
        assert row["peak_rss_mb"] > 100  # a process that imported TensorFlow
        assert row["speedup_vs_reference"]["rounds"] == 2
    assert report["results"][0]["speedup_vs_reference"]["median"] == pytest.approx(1.0)
    assert report["config"]["forward_flops"] > 0 and report["config"]["model_section"]["hidden_dim"] == 32
    speedups = report["paired_speedups"]
    assert set(speedups) == {"keras_vit:predict", "keras_vit:call", "keras_vit:saved_model"}
    slow, fast = (row["samples_s"] for row in report["results"][:2])
    by_hand = (slow[0] / fast[0] + slow[1] / fast[1]) / 2  # the median of two per-round ratios
    assert speedups["keras_vit:call"]["keras_vit:predict"]["median"] == pytest.approx(by_hand)


def test_workers_are_gone(tiny_report):
    pids = tiny_report["worker_pids"]
    assert len(pids) == 4  # three cases and the matmul ceiling, each its own process
    assert not any(_alive(pid) for pid in pids)
    saved_model_dir = tiny_report["results"][2]["info"]["saved_model_dir"]
    assert not os.path.exists(saved_model_dir)  # the worker removed its export when it exited


def test_report_files(tiny_report, tmp_path):
    paths = write_report(tiny_report, str(tmp_path), command="python -m benchmarks peers vit_ti16 --tiny")
    with open(paths["json"]) as f:
        loaded = json.load(f)
    assert loaded["command"] == "python -m benchmarks peers vit_ti16 --tiny"
    assert loaded["results"][1]["case"] == "keras_vit:call"
    text = open(paths["markdown"]).read()
    assert "| keras_vit:predict |" in text and "| keras_vit:call |" in text
    assert "Produced by: `python -m benchmarks peers vit_ti16 --tiny`" in text
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "png" not in paths
    else:
        assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_unresponsive_worker_is_failed_and_killed(tmp_path):
    # 0.5 s is too short to import TensorFlow: the case fails, the worker is killed and waited for.
    report = run_benchmark("vit_ti16", ["keras_vit:call"], batch_size=1, overrides=TINY, rounds=1, warmup=1,
                           timeout_s=0.5, log_dir=str(tmp_path), echo=None)
    assert set(report["failed"]) == {"keras_vit:call", "ceiling:matmul"}
    assert "no answer within" in report["failed"]["keras_vit:call"]
    assert report["results"] == []
    assert not any(_alive(pid) for pid in report["worker_pids"])
    assert "Failed:" in markdown(report)


def test_paired_ratio_by_hand():
    ratio = paired_ratio([2.0, 4.0, 6.0], [1.0, 1.0, 2.0])  # per round: 2, 4, 3
    assert ratio == {"median": 3.0, "min": 2.0, "max": 4.0, "rounds": 3}


def test_unknown_case_names_the_known_ones():
    with pytest.raises(ValueError, match="Unknown benchmark case 'keras_vit:predcit'.*keras_vit:predict"):
        parse_case("keras_vit:predcit")


def test_peers_command_passes_its_options_and_writes_the_report(tiny_report, tmp_path, monkeypatch, capsys):
    received = {}

    def fake_run_benchmark(model, cases, **kwargs):  # the measurement itself is tested above
        received.update(model=model, cases=cases, **kwargs)
        return tiny_report

    monkeypatch.setattr(benchmarks.peers, "run_benchmark", fake_run_benchmark)
    argv = ["peers", "vit_tiny_patch16_224", "--tiny", "--override", "num_classes=3", "--cases",
            "keras_vit:predict,keras_vit:call", "--batch_size", "2", "--rounds", "3", "--warmup", "1",
            "--iterations", "2", "--reference", "keras_vit:call", "--noonednn", "--timeout", "60",
            "--output_dir", str(tmp_path)]
    assert cli.main(argv) == 0
    assert received["model"] == "vit_ti16"  # the alias resolved to the zoo name
    assert received["cases"] == ["keras_vit:predict", "keras_vit:call"]
    assert received["overrides"] == {**TINY, "num_classes": 3}
    assert (received["batch_size"], received["rounds"], received["warmup"], received["iterations"]) == (2, 3, 1, 2)
    assert received["reference"] == "keras_vit:call" and received["onednn"] is False
    assert received["timeout_s"] == 60 and received["log_dir"] == os.path.join(str(tmp_path), "logs")
    out = capsys.readouterr().out
    assert "| keras_vit:call |" in out  # the Markdown table is printed
    with open(tmp_path / "vit_ti16_b2.json") as f:
        assert json.load(f)["command"] == "python -m benchmarks " + " ".join(argv)
    assert cli.parser().parse_args(["peers", "vit_b16", "--no-onednn"]).onednn is False
    defaults = cli.parser().parse_args(["peers", "vit_b16"])
    assert (defaults.cases, defaults.batch_size, defaults.onednn, defaults.output_dir) == (
        None, 8, True, "benchmark_results")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["peers", "vit_b17"], "Unknown model 'vit_b17'"),
        (["peers", "vit_ti16", "--cases", "keras_vit:predcit"], "Unknown benchmark case 'keras_vit:predcit'"),
        (["peers", "vit_ti16", "--override", "image_size"], "--override takes key=value"),
    ],
)
def test_peers_command_errors_are_one_line_before_any_worker_starts(argv, message, monkeypatch):
    monkeypatch.setattr(benchmarks.peers, "run_benchmark", lambda *a, **k: pytest.fail("ran despite the error"))
    with pytest.raises(SystemExit, match="^python -m benchmarks peers: .*" + re.escape(message)) as error:
        cli.main(argv)
    assert "\n" not in str(error.value)


def test_serving_command_options():
    args = cli.parser().parse_args(["serving", "--model", "vit_s16", "--image_size", "96", "--batch", "4",
                                    "--rounds", "2", "--repeats", "1", "--no_plain"])
    assert (args.command, args.model, args.image_size, args.batch, args.rounds, args.repeats, args.no_plain) == (
        "serving", "vit_s16", 96, 4, 2, 1, True)
    defaults = cli.parser().parse_args(["serving"])
    assert (defaults.model, defaults.image_size, defaults.batch, defaults.rounds, defaults.repeats,
            defaults.no_plain) == ("vit_b16", None, 8, 5, 3, False)
