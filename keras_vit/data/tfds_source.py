"""tensorflow-datasets by name, from a prepared `data_dir` or downloaded where a network exists."""

from keras_vit.data.dataset_info import LabeledImages


def tfds_images(name, split="train", data_dir=None, num_channels=None, download=False):
    """An image classification dataset of tensorflow-datasets as (image, label) pairs.

    Args:
        name: a tfds builder name such as "cifar10" or "oxford_iiit_pet".
        split: a tfds split string ("train", "test", "train[:90%]").
        data_dir: where prepared data lives (tfds's default when None).
        num_channels: force 1 or 3 channels; the dataset's own when None.
        download: allow tfds to download and prepare the data (needs a network).

    Returns:
        LabeledImages.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("tfds: datasets need tensorflow-datasets: pip install tensorflow-datasets") from None
    known = tfds.list_builders(with_community_datasets=False)
    if name not in known:
        from keras_vit.registry import suggest

        raise ValueError(f"Unknown tensorflow-datasets dataset {name!r}.{suggest(name, known)}")
    builder = tfds.builder(name, data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    info = builder.info
    if "image" not in info.features or "label" not in info.features:
        raise ValueError(f"tensorflow-datasets {name!r} has no 'image' and 'label' features: {list(info.features)}.")
    channels = info.features["image"].shape[-1]
    try:
        dataset = builder.as_dataset(split=split, as_supervised=False, shuffle_files=False)
    except (AssertionError, FileNotFoundError) as error:  # tfds reports unprepared data with an AssertionError
        raise ValueError(
            f"tensorflow-datasets {name!r} split {split!r} is not prepared in {builder.data_dir}: pass data_dir= "
            f"where it was prepared, or download=True on a machine with a network ({error})."
        ) from None

    import tensorflow as tf

    target = num_channels or channels

    def pair(example):
        image = example["image"]
        if target != channels:
            image = tf.image.grayscale_to_rgb(image) if target == 3 else tf.image.rgb_to_grayscale(image)
        return image, tf.cast(example["label"], tf.int64)

    dataset = dataset.map(pair, num_parallel_calls=tf.data.AUTOTUNE)
    names = tuple(info.features["label"].names)
    try:
        count = info.splits[split].num_examples
    except (KeyError, ValueError):
        count = None
    return LabeledImages(dataset, len(names), names, count, target)
