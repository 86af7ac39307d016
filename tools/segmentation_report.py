"""The numbers and pictures of docs/segmentation.md from finished digits_seg runs.

    python tools/segmentation_report.py runs/digits_seg_s0 runs/digits_seg_s1 runs/digits_seg_s2 --out docs/images/segmentation

For each run: per-class IoU and mean IoU over its held-out scenes (keras_vit.tasks.segmentation_metrics, the whole
set's confusion matrix) and the share of digits whose pixels are mostly named right, by the digit's height in the
128 px scene, written to <out>/report.json; the learning curves of every run (train_log.jsonl) to
<out>/learning_curve.png; the first run's predicted masks on held-out scenes to <out>/predictions.png.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import keras_vit
from keras_vit.tasks.data_source import DigitScenesSource
from keras_vit.tasks.segmentation_metrics import evaluate_segmentation
from keras_vit.train import load_recipe
from keras_vit.train.recipe import NOT_HYPERPARAMETERS

CLASS_NAMES = ["background", *map(str, range(10))]


def load_run(run):
    """(model with the run's final weights, its data source, its recipe) of a finished run folder."""
    recipe = load_recipe(json.loads((run / "recipe.json").read_text()))
    overrides = {k: v for k, v in recipe.model.items() if k not in NOT_HYPERPARAMETERS}
    model = keras_vit.create(recipe.model["name"], **overrides)
    model.load_weights(run / "model.keras")
    source = dict(recipe.data["source"])
    source.pop("name")
    return model, DigitScenesSource(**source, seed=recipe.run["seed"], mean=recipe.data["mean"],
                                    std=recipe.data["std"]), recipe


def learning_curves(runs, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.5), dpi=100, layout="constrained")
    loss_axes, iou_axes = figure.subplots(1, 2)
    for run in runs:
        epochs = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
        epochs = [e for e in epochs if e["event"] == "epoch"]
        x = [e["epoch"] for e in epochs]
        for axes, key in ((loss_axes, "loss"), (iou_axes, "mean_iou")):
            line, = axes.plot(x, [e[key] for e in epochs], "--", label=f"{run.name} train")
            axes.plot(x, [e[f"val_{key}"] for e in epochs], "-", color=line.get_color(), label=f"{run.name} held out")
    loss_axes.set(xlabel="epoch", ylabel="per-pixel cross-entropy", yscale="log")
    iou_axes.set(xlabel="epoch", ylabel="mean IoU (11 classes)", ylim=(0, 1))
    iou_axes.axhline(0.8, color="gray", linewidth=0.8)
    iou_axes.legend(fontsize=7)
    figure.savefig(path)


def held_out_predictions(model, source, count):
    """(the held-out DigitScenes, the class ids the model predicts for the first `count` of them)."""
    scenes = source.scenes("test", model.inputs[0].shape[1])
    channels = model.inputs[0].shape[-1]
    images = (scenes.images[:count, ..., :channels].astype("float32") / 255 - source.mean) / source.std
    return scenes, np.asarray(model.predict(images, batch_size=32, verbose=0)).argmax(-1)


def prediction_figure(scenes, predicted, path, count=6):
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    colors = ListedColormap(["black", *[tuple(c) for c in __import__("matplotlib").colormaps["tab10"].colors]])
    figure = Figure(figsize=(2 * count, 6.3), dpi=100, layout="constrained")
    axes = figure.subplots(3, count)
    for i in range(count):
        for row, (picture, title) in enumerate(((scenes.images[i], "scene"), (scenes.masks[i], "true mask"),
                                                (predicted[i], "predicted"))):
            ax = axes[row, i]
            ax.imshow(picture, cmap=None if row == 0 else colors, vmin=0, vmax=10, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(title)
        axes[0, i].set_title("digits " + " ".join(map(str, sorted(scenes.labels[i]))), fontsize=9)
    figure.savefig(path)


HEIGHT_BINS = ((20, 26), (26, 32), (32, 38), (38, 44), (44, 49))


def digits_right_by_height(scenes, predicted):
    """{"20-25 px": share of the digits of the predicted scenes, of that height, whose found pixels are mostly named
    with their class}."""
    size = scenes.masks.shape[1]
    heights, right = [], []
    for mask, ids, boxes, labels in zip(scenes.masks, predicted, scenes.boxes, scenes.labels):
        for box, label in zip(boxes, labels):
            y0, x0, y1, x1 = (int(round(v * size)) for v in box)
            found = ids[y0:y1, x0:x1][mask[y0:y1, x0:x1] == label + 1]
            found = found[found > 0]
            if len(found):  # scaled back to the 128 px scenes the heights are drawn for
                heights.append((y1 - y0) * 128 / size)
                right.append(np.bincount(found, minlength=11).argmax() == label + 1)
    heights, right = np.array(heights), np.array(right)
    return {f"{lo}-{hi - 1} px": round(float(right[(heights >= lo) & (heights < hi)].mean()), 3)
            for lo, hi in HEIGHT_BINS if np.any((heights >= lo) & (heights < hi))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images/segmentation"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = {}
    for run in args.runs:
        model, source, recipe = load_run(run)
        result = evaluate_segmentation(model, source.pipelines(model, batch_size=32)[1])
        summary = json.loads((run / "summary.json").read_text())
        scenes, predicted = held_out_predictions(model, source, count=300)
        report[run.name] = {"seed": recipe.run["seed"], "mean_iou": round(result["mean_iou"], 4),
                            "per_class_iou": dict(zip(CLASS_NAMES, np.round(result["per_class_iou"], 4).tolist())),
                            "held_out_scenes": source.num_eval_scenes, "wall_seconds": summary["wall_seconds"],
                            "digits_right_by_height": digits_right_by_height(scenes, predicted)}
        print(run.name, json.dumps(report[run.name]))
        if run == args.runs[0]:
            prediction_figure(scenes, predicted, args.out / "predictions.png")
    means = [r["mean_iou"] for r in report.values()]
    report["mean_iou_over_runs"] = {"mean": round(float(np.mean(means)), 4), "min": min(means), "max": max(means)}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    learning_curves(args.runs, args.out / "learning_curve.png")
    print(json.dumps(report["mean_iou_over_runs"]))


if __name__ == "__main__":
    main()
