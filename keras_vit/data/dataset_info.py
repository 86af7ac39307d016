"""What a data source returns: an unbatched tf.data.Dataset of (image, label) and its metadata."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class LabeledImages:
    """An unbatched dataset of (image, label) pairs with what a trainer needs to know about it.

    Attributes:
        dataset: yields (image uint8 (height, width, channels), label int64 scalar); image sizes may vary (image
            folders) until `make_pipeline` resizes them.
        num_classes: int.
        class_names: tuple of str, index = label.
        num_examples: int or None when unknown.
        num_channels: int.
    """

    dataset: tf.data.Dataset
    num_classes: int
    class_names: tuple
    num_examples: int | None
    num_channels: int
