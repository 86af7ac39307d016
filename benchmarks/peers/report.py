"""Writes a benchmark report (runner.run_benchmark's dict) as JSON, a Markdown table and a PNG bar chart."""

from __future__ import annotations

import json
import os


def _fmt(value, digits=2):
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def markdown(report, command=None):
    """The report as Markdown: one row per case, then the paired speedups of keras_vit's cases over the peers'."""
    config = report["config"]
    overrides = ", ".join(f"{k}={v}" for k, v in config.get("overrides", {}).items())
    lines = [
        f"### {report['model']}{f' ({overrides})' if overrides else ''}, batch {config['batch_size']}",
        "",
        f"{report['rounds']} interleaved rounds after {report['warmup']} warm-up runs per case; medians. "
        f"Matmul ceiling: {_fmt(report['matmul_ceiling_gflops_per_s'], 1)} GFLOP/s "
        f"(TF_ENABLE_ONEDNN_OPTS={report['environment'].get('TF_ENABLE_ONEDNN_OPTS')}, "
        f"{report['environment'].get('cpu_count')} CPUs, {report['environment'].get('time_utc')} UTC).",
        "",
    ]
    reference = report.get("reference")
    lines += [
        f"| case | ms/step | images/s | GFLOP/s | % of ceiling | peak RSS (MB) | x vs {reference} (paired, min-max) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        ratio = row.get("speedup_vs_reference")
        ratio_text = "-" if not ratio else f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})"
        fraction = row.get("fraction_of_ceiling")
        lines.append(
            f"| {row['case']} | {row.get('median_step_s', row['median_s']) * 1000:.1f} | {_fmt(row['images_per_s'])} | "
            f"{_fmt(row['gflops_per_s'], 1)} | {_fmt(fraction * 100 if fraction is not None else None, 0)} | "
            f"{_fmt(row['peak_rss_mb'], 0)} | {ratio_text} |"
        )
    ours = [r["case"] for r in report["results"] if r["case"].startswith("keras_vit:")]
    peers = [r["case"] for r in report["results"] if not r["case"].startswith("keras_vit:")]
    if ours and peers:
        lines += ["", "Paired speedups (row over column, median of per-round ratios):", ""]
        lines += ["| | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
        for case in ours:
            cells = [report["paired_speedups"][case].get(peer) for peer in peers]
            lines.append(f"| {case} | " + " | ".join(_fmt(c["median"]) if c else "-" for c in cells) + " |")
    for title, key in (("Skipped", "skipped"), ("Failed", "failed")):
        if report.get(key):
            lines += ["", f"{title}:", ""] + [f"- {case}: {reason}" for case, reason in report[key].items()]
    if command:
        lines += ["", f"Produced by: `{command}`"]
    return "\n".join(lines) + "\n"


def write_chart(report, path):
    """A horizontal bar chart of images/s per case; returns False (and writes nothing) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = report["results"]
    names = [r["case"] for r in rows]
    values = [r["images_per_s"] for r in rows]
    colors = ["tab:blue" if n.startswith("keras_vit:") else "tab:gray" for n in names]
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    axis.barh(names[::-1], values[::-1], color=colors[::-1])
    axis.set_xlabel("images/s (median)")
    axis.set_title(f"{report['model']}, batch {report['config']['batch_size']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_report(report, output_dir, stem=None, command=None):
    """Writes STEM.json, STEM.md and STEM.png (when matplotlib is installed) into output_dir; returns the paths."""
    os.makedirs(output_dir, exist_ok=True)
    stem = stem or f"{report['model']}_b{report['config']['batch_size']}"
    paths = {"json": os.path.join(output_dir, stem + ".json"), "markdown": os.path.join(output_dir, stem + ".md")}
    with open(paths["json"], "w") as f:
        json.dump({**report, "command": command}, f, indent=2)
    with open(paths["markdown"], "w") as f:
        f.write(markdown(report, command))
    png = os.path.join(output_dir, stem + ".png")
    if report["results"] and write_chart(report, png):
        paths["png"] = png
    return paths
