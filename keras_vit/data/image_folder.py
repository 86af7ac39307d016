"""A folder of images per class: root/<class name>/<image files>."""

from __future__ import annotations

import warnings
from pathlib import Path

import tensorflow as tf

from keras_vit.data.dataset_info import LabeledImages
from keras_vit.schema import RATE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def image_folder(root, num_channels=3, split="all", validation_fraction=0.0, seed=0):
    """Images from `root/<class>/*`, labels by sorted class name, decoded in parallel inside tf.data.

    Args:
        root: the folder holding one subfolder per class.
        num_channels: 1 or 3; every image is decoded to this many channels.
        split: "all", or "train" / "validation" for a seeded split that holds out `validation_fraction` of each
            class.
        validation_fraction: float in [0, 1).
        seed: int, the split's permutation.

    Returns:
        LabeledImages with uint8 images of varying size (batch them through `make_pipeline`, which resizes).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Image folder {root} does not exist: pass a folder with one subfolder of images per class.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"Image folder {root} has no class subfolders: expected {root}/<class name>/<images>.")
    if split not in ("all", "train", "validation"):
        raise ValueError(f"split must be 'all', 'train' or 'validation'; received {split!r}.")
    RATE.check("validation_fraction", validation_fraction)
    import numpy as np

    rng = np.random.default_rng(seed)
    paths, labels, skipped = [], [], 0
    for label, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.iterdir() if p.is_file())
        images = [str(p) for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped += len(files) - len(images)
        if not images:
            raise ValueError(
                f"Class folder {class_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}): add images or remove it."
            )
        order = rng.permutation(len(images))
        held_out = int(round(len(images) * validation_fraction))
        chosen = {"all": order, "validation": order[:held_out], "train": order[held_out:]}[split]
        paths += [images[i] for i in chosen]
        labels += [label] * len(chosen)
    if skipped:
        warnings.warn(f"Image folder {root}: skipped {skipped} file(s) that are not {'/'.join(IMAGE_SUFFIXES)}.", stacklevel=2)

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=num_channels, expand_animations=False)
        return tf.ensure_shape(image, [None, None, num_channels]), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int64)))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    names = tuple(p.name for p in class_dirs)
    return LabeledImages(dataset, len(names), names, len(paths), num_channels)
