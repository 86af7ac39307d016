"""A folder of images per class: root/<class name>/<image files>."""

import re
import warnings
from pathlib import Path

import tensorflow as tf

from keras_vit.data.dataset_info import LabeledImages
from keras_vit.schema import RATE, one_of

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def _decode(path, num_channels):
    return tf.io.decode_image(tf.io.read_file(path), channels=num_channels, expand_animations=False)


def _reason(path, num_channels):
    try:
        _decode(path, num_channels)
    except tf.errors.OpError as error:  # the decoder's own words, without TensorFlow's op and device names
        return re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message.strip().splitlines()[0]).strip()
    return "fails inside tf.data"


def _unreadable(paths, num_channels):
    """{path: reason} of the files among `paths` that do not decode, found by decoding each once, in parallel."""
    decoded = tf.data.Dataset.from_tensor_slices(paths).enumerate().map(
        lambda index, path: (index, tf.shape(_decode(path, num_channels))), num_parallel_calls=tf.data.AUTOTUNE)
    good = {int(index) for index, _ in decoded.ignore_errors().as_numpy_iterator()}
    return {path: _reason(path, num_channels) for i, path in sorted(enumerate(paths), key=lambda p: p[1])
            if i not in good}


def image_folder(root, num_channels=3, split="all", validation_fraction=0.0, seed=0, unreadable_images="error"):
    """Images from `root/<class>/*`, labels by sorted class name, decoded in parallel inside tf.data.

    Args:
        root: the folder holding one subfolder per class.
        num_channels: 1 or 3; every image is decoded to this many channels.
        split: "all", or "train" / "validation" for a seeded split that holds out `validation_fraction` of each
            class.
        validation_fraction: float in [0, 1).
        seed: int, the split's permutation.
        unreadable_images: what to do with files that do not decode (truncated, corrupt, not an image despite the suffix),
            found by decoding every chosen file once, in parallel, before anything trains: "error" (default) raises
            a ValueError naming them (the first 25) with their count; "skip" leaves them out with a warning that
            says the same.

    Returns:
        LabeledImages with uint8 images of varying size (batch them through `make_pipeline`, which resizes).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Image folder {root} does not exist: pass a folder with one subfolder of images per class.")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"Image folder {root} has no class subfolders: expected {root}/<class name>/<images>.")
    one_of("all", "train", "validation").check("split", split)
    RATE.check("validation_fraction", validation_fraction)
    one_of("error", "skip").check("unreadable_images", unreadable_images)
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

    bad = _unreadable(paths, num_channels) if paths else {}
    if bad:
        named = [f"{path} ({reason})" for path, reason in list(bad.items())[:25]]
        message = f"Image folder {root}: {len(bad)} of {len(paths)} {split} files cannot be read as images:\n  " + \
            "\n  ".join(named + ([f"... and {len(bad) - 25} more"] if len(bad) > 25 else [])) + "\n"
        if unreadable_images == "error":
            raise ValueError(message + "Remove or replace them, or skip them (data.unreadable_images: skip).")
        warnings.warn(message + "They are left out (unreadable_images: skip).", stacklevel=2)
        kept = [(path, label) for path, label in zip(paths, labels) if path not in bad]
        paths, labels = [path for path, _ in kept], [label for _, label in kept]

    def decode(path, label):
        return tf.ensure_shape(_decode(path, num_channels), [None, None, num_channels]), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int64)))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    names = tuple(p.name for p in class_dirs)
    return LabeledImages(dataset, len(names), names, len(paths), num_channels)
