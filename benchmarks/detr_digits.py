"""DETR on the digit scenes: train with model.fit for a number of epochs, evaluate COCO AP (pycocotools) on 1,000
held-out scenes as it goes, and save the learning curves (loss and AP against epoch and training time) as JSON and PNG.

    taskset -c 1 python -m benchmarks.detr_digits --config benchmarks/detr_digits/anchor.json \
        --backbone-weights runs/mnist_vit/model.keras --out benchmarks/results/detr_digits/anchor

A config is JSON: {"model": {<overrides of registry/tasks/detr_vit_ti16_digits.yaml's model>}, "train": {...}}
(keys of TRAIN below). Training time counts model.fit only, not the evaluations.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import time

import numpy as np

# epoch: `epoch_scenes` scenes (a point of the curves); train_scenes are all different scenes, cycled if fewer than
# epochs * epoch_scenes; minutes: stop after this much training time (the schedule still spans `epochs`);
# trainable_blocks: the backbone's last blocks that train (null: all, 0: frozen backbone)
TRAIN = {"epochs": 20, "epoch_scenes": 1024, "trainable_blocks": None, "batch_size": 32, "minutes": None,
         "dtype": None, "learning_rate": 5e-4, "weight_decay": 1e-4, "warmup_epochs": 1, "global_clipnorm": 0.1,
         "train_scenes": 8000, "eval_every": 2, "eval_scenes": 1000, "scene_size": 128}


def targets_of(scenes, max_objects):
    """(S, max_objects, 5) [cx, cy, w, h, label] from DigitScenes' normalized [ymin, xmin, ymax, xmax]; -1 pads."""
    targets = np.full((len(scenes), max_objects, 5), -1.0, np.float32)
    for i, (boxes, labels) in enumerate(zip(scenes.boxes, scenes.labels)):
        ymin, xmin, ymax, xmax = np.asarray(boxes, np.float32).reshape(-1, 4).T
        targets[i, :len(labels)] = np.stack([(xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin,
                                             labels], -1)
    return targets


def prepare_images(images, size, channels=3):
    """uint8 scenes resized to the model's input (boxes are normalized, so they do not change), as uint8; gray
    scenes keep one channel for a backbone trained on 1-channel digits."""
    import tensorflow as tf

    images = images[..., :channels]
    if images.shape[1] == size:
        return images
    return np.concatenate([tf.cast(tf.round(tf.image.resize(images[i:i + 500], (size, size))), tf.uint8).numpy()
                           for i in range(0, len(images), 500)])


def normalize(images):
    # the digit classifier's normalization (keras_vit.data.pipeline: mean 0.5, std 0.5 of [0, 1] pixels)
    return images.astype(np.float32) / 127.5 - 1.0


def coco_ground_truth(scenes):
    from pycocotools.coco import COCO

    size = scenes.images.shape[1]
    annotations, next_id = [], 1
    for image_id, (boxes, labels) in enumerate(zip(scenes.boxes, scenes.labels)):
        for (ymin, xmin, ymax, xmax), label in zip(np.asarray(boxes) * size, labels):
            w, h = float(xmax - xmin), float(ymax - ymin)
            annotations.append({"id": next_id, "image_id": image_id, "category_id": int(label) + 1, "iscrowd": 0,
                                "bbox": [float(xmin), float(ymin), w, h], "area": w * h})
            next_id += 1
    coco = COCO()
    coco.dataset = {"images": [{"id": i, "width": size, "height": size} for i in range(len(scenes))],
                    "annotations": annotations, "categories": [{"id": c + 1, "name": str(c)} for c in range(10)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detections(outputs, size):
    """COCO result dicts from the last decoder layer: each query's best class (not "no object") and its box."""
    logits, boxes = outputs["logits"][:, -1], outputs["boxes"][:, -1]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    classes, scores = probabilities[..., :-1].argmax(-1), probabilities[..., :-1].max(-1)
    results = []
    for image_id in range(len(boxes)):
        for (cx, cy, w, h), label, score in zip(boxes[image_id] * size, classes[image_id], scores[image_id]):
            results.append({"image_id": image_id, "category_id": int(label) + 1, "score": float(score),
                            "bbox": [float(cx - w / 2), float(cy - h / 2), float(w), float(h)]})
    return results


def coco_ap(ground_truth, results):
    """{"AP", "AP50", "AP75"} by pycocotools' COCOeval (bbox)."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        predicted = ground_truth.loadRes(results)
        evaluation = COCOeval(ground_truth, predicted, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return dict(zip(("AP", "AP50", "AP75"), (float(v) for v in evaluation.stats[:3])))


def evaluate(model, images, ground_truth, scene_size, batch_size=100):
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    return coco_ap(ground_truth, detections(outputs, scene_size))


def build(config, backbone_weights, seed, dtype=None):
    import keras

    import keras_vit

    keras.utils.set_random_seed(seed)
    return keras_vit.create("detr_vit_ti16_digits", backbone_weights=backbone_weights, dtype=dtype, **config)


def freeze(model, trainable_blocks):
    """Leaves only the backbone's last `trainable_blocks` blocks trainable (None: all): its backward pass costs
    most of a step on the CPU."""
    if trainable_blocks is None:
        return
    backbone = model.get_layer(model.layout.backbone)
    blocks = [layer.name for layer in backbone.layers if layer.name.startswith("block_")]
    keep = set(blocks[len(blocks) - trainable_blocks:]) if trainable_blocks else set()
    for layer in backbone.layers:
        layer.trainable = layer.name in keep


def optimizer_for(model, train, steps_per_epoch):
    import keras

    total = train["epochs"] * steps_per_epoch
    warmup = min(train["warmup_epochs"] * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, alpha=0.01, warmup_target=train["learning_rate"], warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=train["weight_decay"],
                                       global_clipnorm=train["global_clipnorm"])
    return optimizer


def run(config, backbone_weights, out, seed=0, log=print):
    import keras
    import tensorflow as tf

    from keras_vit.tasks.data.digit_scenes import digit_scenes

    train = {**TRAIN, **config.get("train", {})}
    unknown = set(config.get("train", {})) - set(TRAIN)
    if unknown:
        raise ValueError(f"unknown train keys {sorted(unknown)}; known: {sorted(TRAIN)}")
    model = build(config.get("model", {}), backbone_weights, seed, train["dtype"])
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    num_queries = model.get_layer("decoder").num_queries
    started = time.perf_counter()
    train_scenes = digit_scenes("train", train["train_scenes"], seed=seed, image_size=train["scene_size"], split_seed=0)
    test_scenes = digit_scenes("test", train["eval_scenes"], seed=seed, image_size=train["scene_size"], split_seed=0)
    x_train = prepare_images(train_scenes.images, size, channels)
    y_train = targets_of(train_scenes, num_queries)
    x_test = normalize(prepare_images(test_scenes.images, size, channels))
    ground_truth = coco_ground_truth(test_scenes)
    log(f"data: {len(x_train)} train, {len(x_test)} held-out scenes in {time.perf_counter() - started:.0f} s")

    freeze(model, train["trainable_blocks"])
    steps = train["epoch_scenes"] // train["batch_size"]
    stream = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=seed).repeat()
    stream = stream.batch(train["batch_size"], drop_remainder=True).map(
        lambda x, y: (tf.cast(x, tf.float32) / 127.5 - 1.0, y)).prefetch(2)
    model.compile(optimizer_for(model, train, steps), jit_compile=False)
    history = {"epoch": [], "train_seconds": [], "cpu_seconds": [], "loss": [], "eval_epoch": [], "eval_seconds": [], "AP": [],
               "AP50": [], "AP75": []}

    class Curves(keras.callbacks.Callback):
        # wall time, and the process's CPU time: on the shared machine other jobs take most of the core
        def on_train_begin(self, logs=None):
            self.train_seconds = self.cpu_seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.clock, self.cpu_clock = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.train_seconds += time.perf_counter() - self.clock
            self.cpu_seconds += time.process_time() - self.cpu_clock
            history["cpu_seconds"].append(round(self.cpu_seconds, 1))
            history["epoch"].append(epoch + 1)
            history["train_seconds"].append(round(self.train_seconds, 1))
            history["loss"].append(float(logs["loss"]))
            line = (f"epoch {epoch + 1}: loss {logs['loss']:.3f}, {self.train_seconds:.0f} s training "
                    f"({self.cpu_seconds:.0f} s CPU)")
            over = train["minutes"] is not None and self.train_seconds > 60 * train["minutes"]
            self.model.stop_training = self.model.stop_training or over
            if (epoch + 1) % train["eval_every"] == 0 or epoch + 1 == train["epochs"] or over:
                scores = evaluate(model, x_test, ground_truth, train["scene_size"])
                history["eval_epoch"].append(epoch + 1)
                history["eval_seconds"].append(round(self.train_seconds, 1))
                for key, value in scores.items():
                    history[key].append(round(value, 4))
                line += ", " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
            log(line)

    model.fit(stream, steps_per_epoch=steps, epochs=train["epochs"], verbose=0, callbacks=[Curves()])
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"config": {"model": config.get("model", {}), "train": train}, "seed": seed,
              "backbone_weights": backbone_weights, "history": history,
              "final": {k: history[k][-1] for k in ("AP", "AP50", "AP75")},
              "train_seconds": history["train_seconds"][-1],
              "cpu_seconds": history["cpu_seconds"][-1], "num_params": model.count_params()}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    model.save(out / "model.keras")
    plot([result], out / "curves.png")
    return result


def plot(results, path, labels=None):
    """Loss and AP against training time, one line per result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for index, result in enumerate(results):
        h = result["history"]
        label = labels[index] if labels else None
        left.plot(np.array(h["train_seconds"]) / 60, h["loss"], label=label)
        right.plot(np.array(h["eval_seconds"]) / 60, h["AP"], label=f"{label or ''} AP".strip())
        right.plot(np.array(h["eval_seconds"]) / 60, h["AP50"], linestyle="--", color=right.lines[-1].get_color(),
                   label=f"{label or ''} AP50".strip())
    left.set(xlabel="training time (min)", ylabel="set loss (with auxiliary losses)", yscale="log")
    right.set(xlabel="training time (min)", ylabel="COCO AP on 1,000 held-out scenes", ylim=(0, 1))
    right.axhline(0.6, color="gray", linewidth=0.5)
    right.axhline(0.9, color="gray", linewidth=0.5)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    right.legend(fontsize=7)
    if labels:
        left.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def figures(model_path, out, seed=0, num_scenes=6, threshold=0.5):
    """(model_path: a model.keras or a model) Predicted boxes on held-out scenes (detections.png) and DETR's decoder figure (decoder_attention.png)."""
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    import keras_vit
    from keras_vit.tasks.data.digit_scenes import digit_scenes

    model = keras.saving.load_model(model_path) if isinstance(model_path, (str, pathlib.Path)) else model_path
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    scenes = digit_scenes("test", num_scenes, seed=seed + 1000, split_seed=0)
    images = normalize(prepare_images(scenes.images, size, channels))
    result = keras_vit.tasks.decoder_attention(model, images)
    probabilities = np.exp(result["logits"]) / np.exp(result["logits"]).sum(-1, keepdims=True)
    labels, scores = probabilities[..., :-1].argmax(-1), probabilities[..., :-1].max(-1)
    figure, axes = plt.subplots(1, num_scenes, figsize=(2.2 * num_scenes, 2.4))
    for axis, image, boxes, image_labels, image_scores in zip(axes, scenes.images, result["boxes"], labels, scores):
        axis.imshow(image)
        axis.set_axis_off()
        for (cx, cy, w, h), label, score in zip(boxes * 128, image_labels, image_scores):
            if score >= threshold:
                axis.add_patch(Rectangle((cx - w / 2, cy - h / 2), w, h, fill=False, edgecolor="lime"))
                axis.text(cx - w / 2, cy - h / 2 - 1, f"{label} {score:.2f}", color="lime", fontsize=7)
    figure.tight_layout()
    figure.savefig(pathlib.Path(out) / "detections.png", dpi=110)
    plt.close(figure)
    index = int(np.argmax([len(b) for b in scenes.boxes]))  # the busiest scene
    keep = int((scores[index] >= threshold).sum()) or 1
    keras_vit.tasks.plot_decoder_attention(
        images[index], result["attention"][index], result["boxes"][index], labels[index], scores[index],
        max_queries=keep).savefig(pathlib.Path(out) / "decoder_attention.png", dpi=110)


def history_from_log(path):
    """A run's history from the lines `run` logs (for runs stopped before they wrote result.json)."""
    import re

    history = {key: [] for key in ("epoch", "train_seconds", "loss", "eval_epoch", "eval_seconds", "AP", "AP50", "AP75")}
    for line in pathlib.Path(path).read_text().splitlines():
        match = re.match(r"epoch (\d+): loss ([\d.]+), (\d+) s training(?: \(\d+ s CPU\))?(?:, AP ([\d.]+), AP50 ([\d.]+), AP75 ([\d.]+))?",
                         line)
        if match:
            epoch, loss, seconds = int(match[1]), float(match[2]), float(match[3])
            history["epoch"].append(epoch), history["loss"].append(loss), history["train_seconds"].append(seconds)
            if match[4]:
                history["eval_epoch"].append(epoch), history["eval_seconds"].append(seconds)
                for key, value in zip(("AP", "AP50", "AP75"), match.group(4, 5, 6)):
                    history[key].append(float(value))
    return {"history": history}


def compare(runs, path):
    """One figure of several runs: runs is a list of "label=path" (a result.json or a log)."""
    labels, results = [], []
    for item in runs:
        label, file = item.split("=", 1)
        results.append(json.loads(pathlib.Path(file).read_text()) if file.endswith(".json") else history_from_log(file))
        labels.append(label)
    plot(results, path, labels)


def _iou(a, b):  # COCO [x, y, w, h] boxes
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


def diagnose(model, seed=0, num_scenes=1000):
    """What limits AP: per held-out digit, the IoU of the prediction that overlaps it most and whether its class
    is right; and AP after a class-agnostic NMS at IoU 0.7 (how much duplicates cost)."""
    from keras_vit.tasks.data.digit_scenes import digit_scenes

    scenes = digit_scenes("test", num_scenes, seed=seed, split_seed=0)
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    results = detections(model.predict(normalize(prepare_images(scenes.images, size, channels)), batch_size=100,
                                       verbose=0), 128)
    per_image = {}
    for result in sorted(results, key=lambda r: -r["score"]):
        per_image.setdefault(result["image_id"], []).append(result)
    ious, right = [], []
    for image_id, (boxes, labels) in enumerate(zip(scenes.boxes, scenes.labels)):
        for (ymin, xmin, ymax, xmax), label in zip(np.asarray(boxes) * 128, labels):
            truth = [xmin, ymin, xmax - xmin, ymax - ymin]
            best = max(per_image[image_id], key=lambda r: _iou(r["bbox"], truth))
            ious.append(_iou(best["bbox"], truth))
            right.append(best["category_id"] - 1 == label)
    ious, right = np.array(ious), np.array(right)
    kept = []
    for ranked in per_image.values():
        for result in ranked:
            if all(_iou(result["bbox"], k["bbox"]) < 0.7 for k in kept if k["image_id"] == result["image_id"]):
                kept.append(result)
    return {"digits": len(ious), "median_best_iou": float(np.median(ious)), "found_iou50": float((ious >= 0.5).mean()),
            "found_iou75": float((ious >= 0.75).mean()), "class_right_iou50": float(right[ious >= 0.5].mean()),
            "AP_after_nms": coco_ap(coco_ground_truth(scenes), kept)}


def evaluate_file(model_path, seed=0, num_scenes=1000):
    """COCO AP of a saved detector on `num_scenes` held-out 128x128 scenes (split seed 0, the backbone's)."""
    import keras

    import keras_vit  # noqa: F401  (registers the task layers)
    from keras_vit.tasks.data.digit_scenes import digit_scenes

    model = keras.saving.load_model(model_path)
    size, channels = model.inputs[0].shape[1], model.inputs[0].shape[-1]
    scenes = digit_scenes("test", num_scenes, seed=seed, split_seed=0)
    return evaluate(model, normalize(prepare_images(scenes.images, size, channels)), coco_ground_truth(scenes), 128)


def recipe_curves(run_dir, every=4, seed=0, num_scenes=1000):
    """Learning curves of a `keras-vit train` run: its train_log.jsonl (loss, seconds per epoch) and COCO AP of every
    `every`-th checkpoint (the run needs run.keep_checkpoints: 0 to keep them all); writes curves.json and curves.png
    into the run folder."""
    run_dir = pathlib.Path(run_dir)
    epochs = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    epochs = [e for e in epochs if e.get("event") == "epoch"]
    seconds = np.cumsum([e["seconds"] for e in epochs]).round(1).tolist()
    history = {"epoch": [e["epoch"] for e in epochs], "train_seconds": seconds, "loss": [e["loss"] for e in epochs],
               "eval_epoch": [], "eval_seconds": [], "AP": [], "AP50": [], "AP75": []}
    for epoch, elapsed in zip(history["epoch"], seconds):
        path = run_dir / "checkpoints" / f"epoch_{epoch:03d}.keras"
        if (epoch % every and epoch != len(epochs)) or not path.is_file():
            continue
        scores = evaluate_file(path, seed, num_scenes)
        history["eval_epoch"].append(epoch), history["eval_seconds"].append(elapsed)
        for key, value in scores.items():
            history[key].append(round(value, 4))
        print(f"epoch {epoch} ({elapsed / 60:.1f} min): " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    (run_dir / "curves.json").write_text(json.dumps({"history": history}, indent=1))
    plot([{"history": history}], run_dir / "curves.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="JSON file: {model: {...}, train: {...}}")
    parser.add_argument("--backbone-weights", default="runs/mnist_vit/model.keras")
    parser.add_argument("--out", help="the run folder (training, --figures) or the figure (--compare)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="train.KEY=VALUE override (JSON value)")
    parser.add_argument("--figures", action="store_true", help="only draw the figures of OUT/model.keras")
    parser.add_argument("--evaluate", help="a saved detector (model.keras): print its COCO AP on held-out scenes")
    parser.add_argument("--compare", nargs="+", help="LABEL=result.json or LABEL=run.log: one figure, OUT")
    parser.add_argument("--curves", help="a keras-vit train run folder: COCO AP of its checkpoints (curves.json/png)")
    args = parser.parse_args(argv)
    if args.evaluate:
        import keras

        print(json.dumps(evaluate_file(args.evaluate, args.seed)))
        return print(json.dumps(diagnose(keras.saving.load_model(args.evaluate), args.seed)))
    if args.curves:
        return recipe_curves(args.curves, seed=args.seed)
    if args.compare:
        return compare(args.compare, args.out)
    if args.figures:
        return figures(pathlib.Path(args.out) / "model.keras", args.out, args.seed)
    config = json.loads(pathlib.Path(args.config).read_text())
    for item in args.set:
        key, value = item.split("=", 1)
        section, key = key.split(".", 1)
        config.setdefault(section, {})[key] = json.loads(value)
    result = run(config, args.backbone_weights or None, args.out, args.seed, log=lambda s: print(s, flush=True))
    print(json.dumps(result["final"]), f"train {result['train_seconds']:.0f} s")


if __name__ == "__main__":
    main()
