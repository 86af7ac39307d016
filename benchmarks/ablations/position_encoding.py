"""The ViT and TNT papers' position-encoding ablations, at small scale, on the offline MNIST digits.

    python benchmarks/ablations/position_encoding.py --output_dir benchmarks/results/ablations  # ~1 h
    python benchmarks/ablations/position_encoding.py --smoke --output_dir /tmp/ablation_smoke    # ~1 min

Every cell is trained by `keras_vit.train` with one recipe (registry/recipes/mnist_vit.yaml plus the overrides
in `ablation_recipe`); only the model's position encoding changes between the cells of a family:

- ViT: {none, learned_1d, learned_2d, sincos_2d, relative} x {stem (the input), every_layer,
  every_layer_shared}. Whether a cell exists is the ViT family's decision (its spec validation); a cell it
  refuses is listed with the family's reason, not trained. "none" takes no placement, so its input cell is the
  model without position_placement.
- TNT: {patch position on/off} x {pixel position on/off}, a TNT at the ViT's size (32x32 input, 8x8 patches of
  4x4 words: the same 16 patch tokens as the ViT's 7x7 patches of 28x28 digits).

Outputs in --output_dir: runs.json (every run; rewritten after each, and runs already in it with the same
settings are not trained again), results.md (mean +/- std per cell beside the papers' numbers) and
results.png. docs/ablations.md describes the run, its duration and its reading.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ENCODINGS = ("none", "learned_1d", "learned_2d", "sincos_2d", "relative")
PLACEMENTS = ("stem", "every_layer", "every_layer_shared")  # keras_vit.models.vit.PLACEMENTS
TNT_CELLS = (
    (False, False),
    (True, False),
    (False, True),
    (True, True),
)  # (use_patch_position, use_pixel_position)

# ViT paper (Dosovitskiy et al. 2021), appendix Table 8: ViT-B/16, ImageNet 5-shot linear accuracy. The
# relative row's one number stands beside the family's default placement for relative attention (a table per
# layer).
PAPER_VIT = {
    ("none", "stem"): 0.61382,
    ("learned_1d", "stem"): 0.64206,
    ("learned_1d", "every_layer"): 0.63964,
    ("learned_1d", "every_layer_shared"): 0.64292,
    ("learned_2d", "stem"): 0.64001,
    ("learned_2d", "every_layer"): 0.64046,
    ("learned_2d", "every_layer_shared"): 0.64022,
    ("relative", "every_layer"): 0.64032,
}
TNT_PAPER_KEYS = {
    (False, False): "neither",
    (True, False): "patch_only",
    (False, True): "pixel_only",
    (True, True): "both",
}

# The TNT of the same size as mnist_vit's ViT (4 layers, width 64, 4 heads, MLP 256, 16 patch tokens).
TNT_MODEL = {
    "name": "tnt_s16",
    "image_size": 32,
    "patch_size": 8,
    "pixel_stride": 2,
    "pixel_kernel_size": 3,
    "hidden_dim": 64,
    "num_layers": 4,
    "num_heads": 4,
    "intermediate_dim": 256,
    "inner_dim": 16,
    "inner_num_heads": 2,
    "inner_intermediate_dim": 64,
    "pooling": "gap",
}

# jit_compile None keeps the recipe's XLA: one ViT run of 8 epochs took 67 CPU seconds with it and 78 without.
# The smoke runs are too short for compilation to pay off.
FULL = {"seeds": 3, "epochs": 8, "steps_per_epoch": None, "eval_steps": None, "jit_compile": None}
SMOKE = {"seeds": 1, "epochs": 2, "steps_per_epoch": 4, "eval_steps": 1, "jit_compile": False}
SMOKE_CELLS = ("vit/none/stem", "vit/learned_1d/stem", "tnt/patch+pixel")


def cell_name(family, a, b):
    if family == "vit":
        return f"vit/{a}/{b}"
    return "tnt/" + ("+".join(name for name, on in (("patch", a), ("pixel", b)) if on) or "neither")


def ablation_recipe(base, epochs, steps_per_epoch, eval_steps, jit_compile, seed, output_dir):
    """The recipe every cell shares: `base` (mnist_vit) with the ablation's epochs and seed, quiet; XLA as
    `base` says when jit_compile is None."""
    run = {
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "eval_steps": eval_steps,
        "seed": seed,
        "output_dir": str(output_dir),
        "overwrite": True,
        "tensorboard": False,
        "verbose": 0,
        "keep_checkpoints": 1,
    }
    if jit_compile is not None:
        run["jit_compile"] = jit_compile
    return base.with_overrides({"run": run})


def cell_recipe(recipe, family, a, b):
    """The recipe of one cell, validated by the model family; RecipeError for a cell the family refuses."""
    from keras_vit.train import Recipe, load_recipe

    if family == "tnt":
        return Recipe.from_dict(
            {**recipe.to_dict(), "model": {**TNT_MODEL, "use_patch_position": a, "use_pixel_position": b}}
        )
    model = {"position_encoding": a}
    if not (a == "none" and b == "stem"):  # "none" has no placement: its input cell leaves it unset
        model["position_placement"] = b
    return load_recipe(recipe, {"model": model})


def refusal(error):
    """The family's own sentence from a RecipeError (without the file names and the overrides around it)."""
    return str(error).rsplit(".yaml: ", 1)[-1].split(" (after the overrides")[0]


def all_cells():
    return [("vit", e, p) for e in ENCODINGS for p in PLACEMENTS] + [
        ("tnt", patch, pixel) for patch, pixel in TNT_CELLS
    ]


def paper_value(family, a, b, tnt_paper):
    if family == "vit":
        return PAPER_VIT.get((a, b))
    return tnt_paper.get(TNT_PAPER_KEYS[(a, b)])


def summarize(runs, invalid, cells, tnt_paper):
    """Per cell: runs, mean and sample std (None below two runs) of held-out accuracy and loss, the paper's."""
    rows = []
    for family, a, b in cells:
        name = cell_name(family, a, b)
        mine = [r for r in runs if r["cell"] == name]
        acc, loss = [r["eval_accuracy"] for r in mine], [r["eval_loss"] for r in mine]
        rows.append(
            {
                "cell": name,
                "family": family,
                "runs": len(mine),
                "invalid": invalid.get(name),
                "accuracy_mean": statistics.fmean(acc) if acc else None,
                "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
                "loss_mean": statistics.fmean(loss) if loss else None,
                "loss_std": statistics.stdev(loss) if len(loss) > 1 else None,
                "paper": paper_value(family, a, b, tnt_paper),
            }
        )
    return rows


def _pm(mean, std, scale=100, digits=1):
    if mean is None:
        return "-"
    return f"{mean * scale:.{digits}f}" + ("" if std is None else f" ± {std * scale:.{digits}f}")


def markdown(rows, config, command):
    vit = [
        "| cell | runs | held-out accuracy % (mean ± std) | held-out loss "
        "| paper: ViT-B/16 ImageNet 5-shot |",
        "|---|---|---|---|---|",
    ]
    tnt = [
        "| cell | runs | held-out accuracy % (mean ± std) | held-out loss | paper: TNT-S ImageNet top-1 % |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row["invalid"]:
            line = f"| {row['cell']} | invalid | {row['invalid']} | - | - |"
        else:
            paper = (
                "-"
                if row["paper"] is None
                else (f"{row['paper']:.5f}" if row["family"] == "vit" else f"{row['paper']:.1f}")
            )
            line = (
                f"| {row['cell']} | {row['runs']} | {_pm(row['accuracy_mean'], row['accuracy_std'])} | "
                f"{_pm(row['loss_mean'], row['loss_std'], scale=1, digits=3)} | {paper} |"
            )
        (vit if row["family"] == "vit" else tnt).append(line)
    setup = (
        f"{config['seeds']} seed(s) per cell, {config['epochs']} epochs, recipe {config['recipe']} "
        f"(offline MNIST digits: 4,000 train / 1,000 held out, split by the seed); std is the sample "
        f"standard deviation over seeds."
    )
    return "\n".join(
        [
            "# Position-encoding ablation",
            "",
            f"Produced by: `{command}`",
            "",
            setup,
            "",
            "## ViT",
            "",
            *vit,
            "",
            "## TNT",
            "",
            *tnt,
            "",
        ]
    )


def plot(rows, runs, path):
    """Per family: each run as a dot, each cell's mean +/- std as an error bar, the paper's values as crosses
    on a right axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in ("vit", "tnt") if any(r["family"] == f and r["runs"] for r in rows)]
    fig, axes = plt.subplots(
        1,
        len(families),
        figsize=(6 + 4 * len(families), 4.5),
        squeeze=False,
        gridspec_kw={"width_ratios": [3 if f == "vit" else 1.2 for f in families]},
    )
    for ax, family in zip(axes[0], families):
        trained = [r for r in rows if r["family"] == family and r["runs"]]
        xs = range(len(trained))
        # No bars: the axis does not start at 0, and bars would exaggerate the differences.
        ax.errorbar(
            xs,
            [100 * r["accuracy_mean"] for r in trained],
            yerr=[100 * (r["accuracy_std"] or 0.0) for r in trained],
            fmt="_",
            color="#08519c",
            markersize=16,
            capsize=4,
        )
        for x, row in zip(xs, trained):
            values = [100 * run["eval_accuracy"] for run in runs if run["cell"] == row["cell"]]
            ax.plot([x] * len(values), values, "o", color="#6baed6", markersize=4)
        low = min(100 * run["eval_accuracy"] for run in runs if run["family"] == family)
        ax.set_ylim(max(0, low - 3), 100)
        ax.set_xticks(
            list(xs), [r["cell"].split("/", 1)[1] for r in trained], rotation=60, ha="right", fontsize=8
        )
        ax.set_ylabel("held-out accuracy % (MNIST digits)")
        ax.set_title({"vit": "ViT", "tnt": "TNT"}[family])
        papers = [(x, r["paper"]) for x, r in zip(xs, trained) if r["paper"] is not None]
        if papers:
            twin = ax.twinx()
            scale = 100 if family == "vit" else 1
            twin.plot(
                [x for x, _ in papers], [scale * p for _, p in papers], "x", color="#d94801", markersize=8
            )
            # The same points per unit of height as the left axis, so that the papers' effects and ours can be
            # compared by eye.
            bottom, top = ax.get_ylim()
            middle = (min(scale * p for _, p in papers) + max(scale * p for _, p in papers)) / 2
            twin.set_ylim(middle - (top - bottom) / 2, middle + (top - bottom) / 2)
            twin.set_ylabel(
                "paper: " + ("ViT-B/16 ImageNet 5-shot %" if family == "vit" else "TNT-S ImageNet top-1 %"),
                color="#d94801",
            )
    fig.suptitle(
        "dots: one seed each; blue: mean ± std over seeds; orange x: the paper's number (right axis, same scale)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cpu_seconds():
    """This process's CPU time: on a shared machine, wall time / CPU time says how loaded it was."""
    times = os.times()
    return times.user + times.system


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--smoke", action="store_true", help="one seed, two short epochs, three cells")
    parser.add_argument("--seeds", type=int, help="seeds per cell (full: 3)")
    parser.add_argument("--epochs", type=int, help="epochs per run (full: 8)")
    parser.add_argument(
        "--cells", nargs="*", help="train only these cells, e.g. vit/none/stem tnt/patch+pixel"
    )
    parser.add_argument("--recipe", default="mnist_vit")
    args = parser.parse_args(argv)

    import keras

    import keras_vit
    from keras_vit.train import RecipeError, load_recipe

    settings = dict(SMOKE if args.smoke else FULL)
    settings.update({k: v for k, v in (("seeds", args.seeds), ("epochs", args.epochs)) if v is not None})
    wanted = set(args.cells or (SMOKE_CELLS if args.smoke else ())) or None
    base = load_recipe(args.recipe)
    config = {"recipe": args.recipe, **settings, "smoke": args.smoke}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / "runs.json"
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    runs = previous.get("runs", []) if previous.get("config") == config else []
    tnt_paper = dict(keras_vit.get_spec("tnt_s16").paper["position_encoding_ablation"])

    # Which cells exist is the families' business: ask their validation, with the shared recipe.
    probe = ablation_recipe(
        base,
        settings["epochs"],
        settings["steps_per_epoch"],
        settings["eval_steps"],
        settings["jit_compile"],
        seed=0,
        output_dir=output,
    )
    cells, invalid, recipes = all_cells(), {}, {}
    for family, a, b in cells:
        try:
            recipes[cell_name(family, a, b)] = cell_recipe(probe, family, a, b)
        except RecipeError as error:
            invalid[cell_name(family, a, b)] = refusal(error)
    unknown = (wanted or set()) - {cell_name(*c) for c in cells}
    if unknown:
        raise SystemExit(f"Unknown cells {sorted(unknown)}; cells are: {[cell_name(*c) for c in cells]}")
    todo = [
        (c, s)
        for c in cells
        if cell_name(*c) in recipes and (wanted is None or cell_name(*c) in wanted)
        for s in range(settings["seeds"])
    ]
    done = {(r["cell"], r["seed"]) for r in runs}
    pending = [(c, s) for c, s in todo if (cell_name(*c), s) not in done]
    command = "python benchmarks/ablations/position_encoding.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )

    def write():
        trained = [
            c for c in cells if cell_name(*c) in invalid or any(r["cell"] == cell_name(*c) for r in runs)
        ]
        rows = summarize(runs, invalid, trained, tnt_paper)
        result = {"command": command, "config": config, "invalid_cells": invalid, "runs": runs, "cells": rows}
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        (output / "results.md").write_text(markdown(rows, config, command))
        if runs:
            plot(rows, runs, output / "results.png")

    progress = keras.utils.Progbar(len(pending), stateful_metrics=["last_accuracy", "last_seconds"])
    print(
        f"{len(todo)} runs in {len({c for c, _ in todo})} cells ({len(todo) - len(pending)} already done); "
        f"invalid cells: {len(invalid)}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ablation_") as scratch:
        for index, ((family, a, b), seed) in enumerate(pending):
            name = cell_name(family, a, b)
            run_dir = os.path.join(scratch, str(index))
            recipe = recipes[name].with_overrides({"run": {"seed": seed, "output_dir": run_dir}})
            keras.backend.clear_session()
            start, cpu = time.perf_counter(), _cpu_seconds()
            summary = keras_vit.train(recipe)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            # The trained model is not kept: runs.json is the result.
            shutil.rmtree(run_dir, ignore_errors=True)
            runs.append(
                {
                    "cell": name,
                    "family": family,
                    "seed": seed,
                    "eval_accuracy": summary["eval_accuracy"],
                    "eval_loss": summary["eval_loss"],
                    "train_accuracy": summary["train_accuracy"],
                    "train_loss": summary["train_loss"],
                    "parameters": summary["parameters"],
                    "epochs": summary["epochs"],
                    "fit_seconds": summary["wall_seconds"],
                    "seconds": round(seconds, 1),
                    "cpu_seconds": round(cpu, 1),
                }
            )
            write()
            progress.update(
                index + 1, [("last_accuracy", summary["eval_accuracy"]), ("last_seconds", seconds)]
            )
    write()
    if any(not math.isfinite(r["eval_loss"]) for r in runs):
        print("Some runs ended with a non-finite loss: see runs.json.", file=sys.stderr)
    print(f"Wrote {json_path}, {output / 'results.md'} and {output / 'results.png'}", flush=True)


if __name__ == "__main__":
    main()
