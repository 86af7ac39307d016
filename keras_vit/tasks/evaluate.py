"""Evaluation with the field's own tools: COCO mAP through pycocotools' COCOeval for detection, per-class IoU and
mean IoU from a confusion matrix for segmentation.

Boxes here are normalized [ymin, xmin, ymax, xmax], as the data readers give them and as the exported detector
returns them (`detection_boxes`); class ids are 0-based (the exported detector's `detection_classes` are 1-based:
subtract 1).

    >>> metrics = coco_detection_metrics(truth, predictions, image_sizes=(128, 128))
    >>> metrics["AP"], metrics["AP50"], metrics["AP75"]
    >>> confusion = confusion_matrix(true_masks, predicted_masks, num_classes=11)
    >>> segmentation_metrics(confusion)["mean_iou"]
"""

import contextlib
import io

import numpy as np

# COCOeval.stats[0:6], in its order.
COCO_AP_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")


def _cocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("COCO mAP needs pycocotools: pip install pycocotools (or pip install 'keras-vit[tasks]')."
                          ) from None
    return COCO, COCOeval


def _per_image(values, name, columns=None):
    """`values` as a list of per-image arrays, checked: a (N, columns) or (N,) array per image."""
    out = []
    for i, value in enumerate(values):
        array = np.asarray(value, np.float64)
        if columns is not None and array.size == 0:
            array = array.reshape(0, columns)
        expected = (columns,) if columns else ()
        if array.shape[1:] != expected:
            raise ValueError(f"{name} of image {i} must have shape (N{', ' + str(columns) if columns else ''}); "
                             f"received {array.shape}.")
        out.append(array)
    return out


def _coco_boxes(boxes, height, width):
    """Normalized [ymin, xmin, ymax, xmax] -> COCO's pixel [x, y, width, height]."""
    ymin, xmin, ymax, xmax = boxes.T
    return np.stack([xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height], axis=-1)


def coco_detection_metrics(ground_truth, predictions, image_sizes=(1, 1), num_classes=None, is_crowd=None):
    """COCO box mAP (AP at IoU 0.50:0.95, AP50, AP75, by object size) with pycocotools' COCOeval.

    Args:
        ground_truth: (boxes, labels) per image: a sequence of S pairs, boxes (N_i, 4) normalized [ymin, xmin,
            ymax, xmax] and labels (N_i,) 0-based class ids. Images without objects are fine.
        predictions: (boxes, scores, classes) per image, S triples: boxes (K_i, 4) as above, scores (K_i,),
            classes (K_i,) 0-based. COCOeval keeps each image's 100 highest-scoring detections.
        image_sizes: (height, width) of every image, or S such pairs: boxes are scaled to pixels, which only the
            size-bucketed APs (COCO's small < 32^2 < medium < 96^2 < large pixels) depend on.
        num_classes: if given, class ids must lie in [0, num_classes); the mean is over classes with ground truth.
        is_crowd: optional S arrays (N_i,) of bools: crowd regions, which COCOeval neither rewards nor penalizes.

    Returns:
        {"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large"}: floats in [0, 1], NaN where no ground truth
        exists (COCOeval's -1).
    """
    COCO, COCOeval = _cocotools()
    if len(ground_truth) != len(predictions):
        raise ValueError(f"ground_truth holds {len(ground_truth)} images but predictions {len(predictions)}; give "
                         "one entry per image to both (an empty one for an image without objects or detections).")
    sizes = np.broadcast_to(np.asarray(image_sizes, np.float64).reshape(-1, 2), (len(ground_truth), 2))
    true_boxes = _per_image([b for b, _ in ground_truth], "ground-truth boxes", 4)
    true_labels = _per_image([lab for _, lab in ground_truth], "ground-truth labels")
    pred_boxes = _per_image([p[0] for p in predictions], "predicted boxes", 4)
    scores = _per_image([p[1] for p in predictions], "predicted scores")
    classes = _per_image([p[2] for p in predictions], "predicted classes")
    all_ids = np.concatenate([np.zeros(0), *true_labels, *classes])
    top = np.inf if num_classes is None else num_classes
    bad = all_ids[(all_ids < 0) | (all_ids >= top) | (all_ids != np.round(all_ids))]
    if bad.size:
        raise ValueError(f"{bad.size} class id(s) are out of range (e.g. {bad[:5].tolist()}); ids are 0-based "
                         f"integers{f' below num_classes={num_classes}' if num_classes else ''} (the exported "
                         "detector's detection_classes are 1-based: subtract 1).")
    categories = sorted({int(c) for c in all_ids})
    images, truths, results = [], [], []
    for i, (height, width) in enumerate(sizes):
        images.append({"id": i + 1, "height": float(height), "width": float(width)})
        crowd = np.zeros(len(true_labels[i]), bool) if is_crowd is None else np.asarray(is_crowd[i], bool)
        for box, label, flag in zip(_coco_boxes(true_boxes[i], height, width), true_labels[i], crowd):
            # Annotation ids start at 1: COCOeval records matches by id and reads 0 as "unmatched".
            truths.append({"id": len(truths) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                           "bbox": box.tolist(), "area": float(box[2] * box[3]), "iscrowd": int(flag)})
        if not (len(pred_boxes[i]) == len(scores[i]) == len(classes[i])):
            raise ValueError(f"image {i}: predicted boxes, scores and classes differ in length ({len(pred_boxes[i])}, "
                             f"{len(scores[i])}, {len(classes[i])}).")
        for box, score, label in zip(_coco_boxes(pred_boxes[i], height, width), scores[i], classes[i]):
            results.append({"image_id": i + 1, "category_id": int(label) + 1, "bbox": box.tolist(),
                            "score": float(score)})
    if not truths:
        return dict.fromkeys(COCO_AP_NAMES, float("nan"))
    if not results:  # nothing detected: every AP with ground truth is 0 (loadRes refuses an empty list)
        return dict.fromkeys(COCO_AP_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        coco = COCO()
        coco.dataset = {"images": images, "annotations": truths,
                        "categories": [{"id": c + 1, "name": str(c)} for c in categories]}
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: float("nan") if value < 0 else float(value)
            for name, value in zip(COCO_AP_NAMES, evaluation.stats[:6])}


def confusion_matrix(labels, predictions, num_classes):
    """Pixel counts of (true class, predicted class).

    Args:
        labels: integer array (..., H, W) of true class ids in [0, num_classes).
        predictions: integer array of the same shape, predicted class ids.
        num_classes: int.

    Returns:
        (num_classes, num_classes) int64: row = true class, column = predicted class.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must have the same shape: "
                         "resize the predictions to the masks' size (the exported segmenter returns the input's size).")
    for name, ids in (("labels", labels), ("predictions", predictions)):
        bad = (ids < 0) | (ids >= num_classes)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} pixel(s) of {name} hold class ids outside [0, {num_classes}) (e.g. "
                             f"{np.unique(ids[bad])[:5].tolist()}); num_classes counts the background too.")
    flat = labels.astype(np.int64).ravel() * num_classes + predictions.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def segmentation_metrics(confusion):
    """Per-class IoU, mean IoU and pixel accuracy from a confusion matrix (rows true, columns predicted).

    IoU of class c = TP / (TP + FP + FN) = C[c, c] / (row c + column c - C[c, c]). A class absent from both the
    labels and the predictions has no IoU (NaN) and is left out of the mean.

    Returns:
        {"iou": (num_classes,) float64, "mean_iou": float, "pixel_accuracy": float}.
    """
    confusion = np.asarray(confusion, np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix; received shape {confusion.shape}.")
    true_positives = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, true_positives / union, np.nan)
    present = ~np.isnan(iou)
    return {"iou": iou, "mean_iou": float(iou[present].mean()) if present.any() else float("nan"),
            "pixel_accuracy": float(true_positives.sum() / max(confusion.sum(), 1))}


def _held_out_digits(num_scenes, seed):
    from keras_vit.tasks.data.digit_scenes import CLASS_NAMES, digit_scenes

    scenes = digit_scenes("test", num_scenes=num_scenes, seed=seed)
    truth = list(zip(scenes.boxes, scenes.labels))
    description = f"{num_scenes} held-out digit scenes (seed {seed}: digits offline_mnist('train', seed) never holds)"
    return list(scenes.images), truth, scenes.masks, CLASS_NAMES, description


def _coco(image_dir, annotations, with_masks):
    import tensorflow as tf

    from keras_vit.tasks.data.coco import read_coco

    data = read_coco(image_dir, annotations, with_masks=with_masks)
    images = [tf.io.decode_image(tf.io.read_file(e.path), channels=3, expand_animations=False).numpy()
              for e in data.examples]
    masks = None
    if with_masks:  # semantic masks in the digit scenes' convention: 0 background, class k -> k + 1
        masks = []
        for e in data.examples:
            semantic = np.zeros((e.height, e.width), np.int64)
            for mask, label in zip(e.masks, e.labels):
                semantic[mask > 0] = label + 1
            masks.append(semantic)
    truth = [(e.boxes, e.labels) for e in data.examples]
    crowd = [e.is_crowd for e in data.examples]
    return images, truth, masks, data.class_names, f"{len(images)} images of {annotations}", crowd


def evaluate(path, num_scenes=1000, seed=0, coco_images=None, coco_json=None, batch_size=16):
    """Scores a task model as served: COCO box AP for a detector, per-class IoU for a segmenter.

    Args:
        path: a SavedModel folder (or a model's folder of versions), a `.keras` file or a run folder (model.keras).
        num_scenes, seed: held-out digit scenes (`digit_scenes("test", ...)`, 128 x 128) when no COCO data is given.
        coco_images, coco_json: an image folder and its instances JSON (read_coco) instead of digit scenes.
        batch_size: images per call (digit scenes; COCO images, of different sizes, go one by one).

    Returns:
        (task, metrics, class_names, description): "detector" with `coco_detection_metrics`'s dict, or
        "segmenter" with `segmentation_metrics`'s and class names starting with "background".
    """
    from keras_vit.tasks.predictor import load_predictor

    predictor = load_predictor(path)
    segmenter = predictor.task == "segmenter"
    crowd = None
    if coco_images is not None or coco_json is not None:
        if coco_images is None or coco_json is None:
            raise ValueError("COCO data needs both the image folder and the instances JSON.")
        images, truth, masks, names, description, crowd = _coco(coco_images, coco_json, segmenter)
    else:
        images, truth, masks, names, description = _held_out_digits(num_scenes, seed)
    same_size = len({image.shape for image in images}) == 1
    step = batch_size if same_size else 1
    outputs = [predictor.predict(np.stack(images[i:i + step])) for i in range(0, len(images), step)]
    if segmenter:
        names = ("background", *names)
        predicted = [ids for out in outputs for ids in out["class_ids"]]
        confusion = sum(confusion_matrix(m, p, len(names)) for m, p in zip(masks, predicted))
        return "segmenter", segmentation_metrics(confusion), names, description
    predictions = [(b, s, c - 1) for out in outputs for b, s, c in zip(
        out["detection_boxes"], out["detection_scores"], out["detection_classes"])]
    sizes = [image.shape[:2] for image in images]
    return "detector", coco_detection_metrics(truth, predictions, sizes, is_crowd=crowd), names, description


def report_lines(task, metrics, class_names):
    """The evaluation as printable lines: AP, AP50, AP75; or IoU per class, mean IoU and pixel accuracy."""
    if task == "detector":
        return ["COCO box AP (pycocotools COCOeval, IoU 0.50:0.95; 100 detections per image):",
                *(f"  {name:<5} {metrics[name]:.3f}" for name in ("AP", "AP50", "AP75"))]
    width = max(len("pixel accuracy"), *(len(n) for n in class_names))
    lines = [f"  {'class':<{width}}  IoU"]
    lines += [f"  {name:<{width}}  {'absent' if np.isnan(v) else f'{v:.3f}'}"
              for name, v in zip(class_names, metrics["iou"])]
    present = int(np.sum(~np.isnan(metrics["iou"])))
    return ["Per-class IoU (from the pixel confusion matrix):", *lines,
            f"  {'mean IoU':<{width}}  {metrics['mean_iou']:.3f}  (over the {present} classes present)",
            f"  {'pixel accuracy':<{width}}  {metrics['pixel_accuracy']:.3f}"]
