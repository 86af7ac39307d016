"""COCO-format detection and segmentation data: an image folder with an instances JSON, or tensorflow-datasets'
prepared `coco/2017`.

Boxes come out normalized [ymin, xmin, ymax, xmax] (the TF Object Detection API's order, as digit_scenes). Bad input,
by kind: a box reaching outside its image is clipped to the image and counted; a box with no area (after clipping)
is dropped and counted; both are reported in one warning and in `CocoData.report`. Unknown category ids, annotations
of unknown images and missing image files are errors that list them (missing files may be skipped instead, counted,
with skip_missing_images=True). Crowd annotations (iscrowd=1) are kept and flagged, as pycocotools' evaluation
expects; pass skip_crowd=True to leave them out (counted). Images without objects (none annotated, or none left)
are kept, counted in report["images_without_objects"]: a detector learns "no object" from them.
"""

import dataclasses
import json
import os
import warnings

import numpy as np


@dataclasses.dataclass(frozen=True)
class CocoExample:
    """One image's annotations.

    Attributes:
        image_id: the JSON's image id.
        path: the image file's path.
        height, width: the image size from the JSON.
        boxes: (N, 4) float32 normalized [ymin, xmin, ymax, xmax].
        labels: (N,) int64 contiguous 0-based class ids (CocoData.category_ids maps them back).
        is_crowd: (N,) bool.
        annotation_ids: (N,) int64.
        masks: (N, height, width) uint8 0/1 instance masks, or None unless asked for.
    """

    image_id: int
    path: str
    height: int
    width: int
    boxes: np.ndarray
    labels: np.ndarray
    is_crowd: np.ndarray
    annotation_ids: np.ndarray
    masks: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class CocoData:
    """examples (one CocoExample per image, in the JSON's order; images without annotations included with N = 0);
    category_ids[k] is the COCO category id of class k; class_names[k] its name; report counts what was changed:
    "clipped", "degenerate", "crowd_skipped", "missing_images", "masks_from_boxes"; and "images_without_objects"
    (kept)."""

    examples: list
    category_ids: tuple
    class_names: tuple
    report: dict

    def __len__(self):
        return len(self.examples)


def _pycocotools_mask():
    try:
        from pycocotools import mask
    except ImportError:
        raise ImportError("COCO masks (polygons and RLE) need pycocotools: pip install pycocotools "
                          "(or pip install 'keras-vit[tasks]').") from None
    return mask


def _decode(segmentation, height, width, mask_api):
    """A (height, width) uint8 mask from COCO polygons, uncompressed RLE (counts a list) or compressed RLE."""
    if isinstance(segmentation, list):  # polygons: one flat [x0, y0, x1, y1, ...] list per part
        return mask_api.decode(mask_api.merge(mask_api.frPyObjects(segmentation, height, width)))
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        return mask_api.decode(mask_api.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
        return mask_api.decode(segmentation)
    raise ValueError(f"Unknown segmentation form {str(segmentation)[:80]!r}: COCO gives polygons (a list of "
                     "coordinate lists) or RLE (a dict with 'size' and 'counts').")


def read_coco(image_dir, annotations, *, with_masks=False, skip_crowd=False, skip_missing_images=False):
    """Reads a COCO-format instances file.

    Args:
        image_dir: folder of the images; each image's `file_name` is relative to it.
        annotations: path of the instances JSON, or its already parsed dict ("images", "annotations",
            "categories"; bbox [x, y, width, height] in pixels).
        with_masks: decode each annotation's segmentation (polygons, uncompressed or compressed RLE) with
            pycocotools; an annotation without one gets its box filled, counted in report["masks_from_boxes"].
        skip_crowd: leave out iscrowd=1 annotations (counted) instead of keeping them flagged.
        skip_missing_images: leave out images whose file is absent (counted) instead of raising.

    Returns:
        CocoData (module docstring for what is clipped, dropped and raised).
    """
    if not isinstance(annotations, dict):
        with open(annotations) as f:
            annotations = json.load(f)
    for key in ("images", "annotations", "categories"):
        if key not in annotations:
            raise ValueError(f"The instances JSON lacks {key!r}; a COCO instances file has 'images', "
                             "'annotations' and 'categories'.")
    categories = sorted(annotations["categories"], key=lambda c: c["id"])
    index = {c["id"]: k for k, c in enumerate(categories)}
    unknown = sorted({a["category_id"] for a in annotations["annotations"]} - set(index))
    if unknown:
        raise ValueError(f"Annotations use category ids {unknown} that 'categories' does not list (it lists "
                         f"{sorted(index)}); add them to 'categories' or remove those annotations.")
    images = {im["id"]: im for im in annotations["images"]}
    orphans = sorted({a["image_id"] for a in annotations["annotations"]} - set(images))
    if orphans:
        raise ValueError(f"Annotations refer to image ids {orphans[:10]} ({len(orphans)} in all) that 'images' "
                         "does not list.")
    missing = [im["file_name"] for im in annotations["images"]
               if not os.path.isfile(os.path.join(image_dir, im["file_name"]))]
    if missing and not skip_missing_images:
        raise FileNotFoundError(f"{len(missing)} of {len(images)} image files are missing from {image_dir!r}, "
                                f"e.g. {missing[:3]}; fix image_dir or pass skip_missing_images=True.")
    mask_api = _pycocotools_mask() if with_masks else None
    by_image = {image_id: [] for image_id in images}
    for a in annotations["annotations"]:
        by_image[a["image_id"]].append(a)
    report = {"clipped": 0, "degenerate": 0, "crowd_skipped": 0, "missing_images": len(missing),
              "masks_from_boxes": 0}
    missing, examples = set(missing), []
    for image_id, image in images.items():
        if image["file_name"] in missing:
            continue
        height, width = int(image["height"]), int(image["width"])
        kept, boxes = [], []
        for a in by_image[image_id]:
            if a.get("iscrowd", 0) and skip_crowd:
                report["crowd_skipped"] += 1
                continue
            x, y, w, h = (float(v) for v in a["bbox"])
            x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
            x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
            if x1 - x0 <= 0 or y1 - y0 <= 0:  # no area, also once clipped: nothing a detector can learn
                report["degenerate"] += 1
                continue
            report["clipped"] += (x0, y0, x1, y1) != (x, y, x + w, y + h)
            kept.append(a)
            boxes.append((y0 / height, x0 / width, y1 / height, x1 / width))
        masks = None
        if with_masks:
            masks = np.zeros((len(kept), height, width), np.uint8)
            for m, (a, box) in enumerate(zip(kept, boxes)):
                if a.get("segmentation"):
                    masks[m] = _decode(a["segmentation"], height, width, mask_api)
                else:
                    y0, x0, y1, x1 = np.round(np.array(box) * [height, width, height, width]).astype(int)
                    masks[m, y0:y1, x0:x1] = 1
                    report["masks_from_boxes"] += 1
        examples.append(CocoExample(
            image_id, os.path.join(image_dir, image["file_name"]), height, width,
            np.array(boxes, np.float32).reshape(-1, 4), np.array([index[a["category_id"]] for a in kept], np.int64),
            np.array([bool(a.get("iscrowd", 0)) for a in kept], bool),
            np.array([a.get("id", -1) for a in kept], np.int64), masks))
    changed = {k: v for k, v in report.items() if v}  # empty images are data, not a change: not warned about
    report["images_without_objects"] = sum(len(e.labels) == 0 for e in examples)
    if changed:
        warnings.warn(f"read_coco: {changed} (clipped: boxes reaching outside their image, clipped to it; "
                      "degenerate: boxes without area, dropped; see the module docstring).", stacklevel=2)
    return CocoData(examples, tuple(c["id"] for c in categories),
                    tuple(c.get("name", str(c["id"])) for c in categories), report)


def coco_from_tfds(split="validation", data_dir=None):
    """tensorflow-datasets' `coco/2017` where it is already prepared (never downloads).

    Returns:
        A tf.data.Dataset of dicts: "image" (H, W, 3) uint8, "boxes" (N, 4) float32 normalized
        [ymin, xmin, ymax, xmax], "labels" (N,) int64 contiguous 0-79, "is_crowd" (N,) bool, "image_id" ().
        Class names: tfds.builder("coco/2017").info.features["objects"]["label"].names.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("coco_from_tfds needs tensorflow-datasets: pip install tensorflow-datasets.") from None
    builder = tfds.builder("coco/2017", data_dir=data_dir)
    if not builder.is_prepared():
        raise FileNotFoundError(f"coco/2017 is not prepared under {builder.data_dir!r}; run "
                                "`tfds build coco/2017` (add --data_dir to match data_dir), or use read_coco on "
                                "the images and instances JSON from cocodataset.org.")
    return builder.as_dataset(split=split).map(lambda ex: {
        "image": ex["image"], "boxes": ex["objects"]["bbox"], "labels": ex["objects"]["label"],
        "is_crowd": ex["objects"]["is_crowd"], "image_id": ex["image/id"]})
