"""The tf.data input pipeline: resize or random-resized-crop, augmentation, normalization, batching, prefetch."""

import keras
import tensorflow as tf

from keras_vit.data.dataset_info import LabeledImages
from keras_vit.schema import COUNT, POSITIVE_INT, pair


def _per_channel(name, value, channels):
    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    values = values * channels if len(values) == 1 else values
    if len(values) != channels:
        raise ValueError(f"`{name}` needs 1 or {channels} values for {channels}-channel images; received {value!r}.")
    return tf.constant(values, tf.float32)


def random_resized_crop(image, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=(0, 0)):
    """Inception-style crop: a random box covering `scale` of the area with aspect ratio in `ratio`, resized.

    `seed` is a stateless seed (two integers, or a shape (2,) int tensor): the same seed gives the same crop, so a
    pipeline that derives one seed per element is reproducible however many threads run it.
    """
    shape = tf.shape(image)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape,
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        area_range=scale,
        aspect_ratio_range=ratio,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    return tf.image.resize(crop, size, method="bilinear")


def _seeds(seed, index):
    """Four stateless seeds (shape (4, 2)) made of the pipeline's seed and an example's index in the stream: crop,
    flip, and (for the first example of a batch) MixUp and CutMix."""
    return tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), index]), num=4)


def _training_stream(dataset, num_examples, shuffle_buffer, seed, start):
    """(index, example) for examples start, start + 1, ... of the endless training stream.

    Pass p over the data is shuffled with a seed drawn from (seed, p), so the stream is a pure function of `seed` and
    starting at example k reads only the examples of its pass before it. When the size of a pass is unknown,
    starting at k reads the k examples before it.
    """
    if num_examples == 0:
        raise ValueError("The training data has no examples.")
    first_pass, offset = divmod(start, num_examples) if num_examples else (0, start)
    seed = tf.constant(seed, tf.int64)

    def one_pass(number):
        # The graph-level seed of this function only (not TensorFlow's global one): the order then depends on
        # `seed` alone, and Dataset.shuffle accepts a tensor seed (its seed check fails when the graph seed is 0).
        tf.random.set_seed(1)
        pass_seed = tf.random.stateless_uniform([], seed=tf.stack([seed, number]), minval=None, maxval=None,
                                                dtype=tf.int64)
        return dataset.shuffle(shuffle_buffer, seed=pass_seed, reshuffle_each_iteration=False)

    stream = tf.data.Dataset.range(first_pass, tf.int64.max).flat_map(one_pass)
    return stream.enumerate(start=first_pass * (num_examples or 0)).skip(offset)


def make_pipeline(data, *, image_size, batch_size, training, mean=0.5, std=0.5, random_crop=False,
                  crop_scale=(0.08, 1.0), horizontal_flip=False, rand_augment=None, mixup_alpha=0.0, cutmix_alpha=0.0,
                  label_smoothing=0.0, num_classes=None, shuffle_buffer=10_000, seed=0, repeat=False, start_batch=0):
    """Batches (image, label) pairs for a model: float32 images (batch, height, width, channels) normalized as
    (pixel / 255 - mean) / std, and int labels, or one-hot float labels when mixup, cutmix or label smoothing is on
    (also for `training=False`, whose labels are then what a model trained with them is compiled for).

    Args:
        data: a `LabeledImages` or an unbatched tf.data.Dataset of (uint8 image, int label).
        image_size: int or (height, width) of the model's input.
        batch_size: int, the global batch size.
        training: bool; shuffles, augments and drops the last partial batch (static shapes) when True.
        mean, std: normalization of [0, 1] pixels, one value or one per channel (0.5, 0.5: the ViT
            release's [-1, 1]).
        random_crop: Inception-style random resized crop (with `crop_scale` of the area) instead of a plain resize.
        horizontal_flip: random left-right flips.
        rand_augment: None or a dict of `keras.layers.RandAugment` arguments (num_ops, factor).
        mixup_alpha, cutmix_alpha: > 0 enables `keras.layers.MixUp` / `keras.layers.CutMix` on training batches.
        label_smoothing: float; smoothing is applied to the one-hot labels here (with `training` only).
        num_classes: int, needed for one-hot labels (taken from `data` when it is a LabeledImages).
        shuffle_buffer, seed: shuffling.
        repeat: repeat the dataset forever (use with steps_per_epoch). With `training`, the endless stream is a pure
            function of `seed`: pass p over the data is shuffled with a seed made of (seed, p), and example k of
            the stream gets its crop and flip from a seed made of (seed, k).
        start_batch: with `training` and `repeat`, the first batch to yield: batch k is the same whatever
            `start_batch` is, so a run resumed after N batches passes N and continues exactly where it stopped.
            Starting reads (without augmenting) the examples of the current pass that precede it.

    Returns:
        A batched, prefetched tf.data.Dataset whose element shapes are static except the batch dimension when
        `training` is False. Augmentation runs here, never inside the model (a Keras augmentation layer in a
        model turns XLA off for the whole model). Everything random is seeded by position except RandAugment:
        Keras 3.15's layer draws from one stateful seed that the parallel map's threads share, so its output
        varies from run to run.
    """
    if isinstance(data, LabeledImages):
        dataset, channels, count = data.dataset, data.num_channels, data.num_examples
        num_classes = num_classes or data.num_classes
    else:  # its size is unknown: a resumed stream reads the examples before its start
        dataset, channels, count = data, data.element_spec[0].shape[-1], None
    height, width = pair(image_size)
    POSITIVE_INT.check("batch_size", batch_size)
    one_hot = mixup_alpha > 0 or cutmix_alpha > 0 or label_smoothing > 0
    if one_hot and not num_classes:
        raise ValueError("mixup, cutmix and label smoothing need num_classes= for one-hot labels.")
    mean, std = _per_channel("mean", mean, channels), _per_channel("std", std, channels)

    if COUNT.check("start_batch", start_batch) and not (training and repeat):
        raise ValueError(f"start_batch needs training=True and repeat=True; received start_batch={start_batch}.")
    if repeat and training:
        # Every iterator of this dataset yields the same stream (Keras may make more than one), and a resumed run
        # starts at the example where it stopped.
        dataset = _training_stream(dataset, count, shuffle_buffer, seed, start_batch * batch_size)
    else:
        if training:
            dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        elif repeat:
            dataset = dataset.repeat()
        dataset = dataset.enumerate()

    augmenter = None
    if training and rand_augment:
        augmenter = keras.layers.RandAugment(value_range=(0, 255), seed=seed, **dict(rand_augment))

    def prepare(index, pair):
        # The example's index in the stream seeds its crop and flip; the first index of a batch seeds its mixing.
        image, label = pair
        crop_seed, flip_seed = tf.unstack(_seeds(seed, index)[:2])
        image = tf.cast(image, tf.float32)
        if training and random_crop:
            image = random_resized_crop(image, (height, width), scale=tuple(crop_scale), seed=crop_seed)
        else:
            image = tf.image.resize(image, (height, width), method="bilinear")
        if training and horizontal_flip:
            image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
        image = tf.ensure_shape(image, (height, width, channels))
        if augmenter is not None:
            image = augmenter(image)
        label = tf.cast(label, tf.int64)
        if one_hot:
            label = tf.one_hot(label, num_classes)
        if training and label_smoothing:
            label = label * (1.0 - label_smoothing) + label_smoothing / num_classes
        return image, label, index

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE)

    mixers = []
    if training and mixup_alpha > 0:
        mixers.append(keras.layers.MixUp(alpha=mixup_alpha, seed=seed))
    if training and cutmix_alpha > 0:
        mixers.append(keras.layers.CutMix(factor=cutmix_alpha, seed=seed))

    def finish(images, labels, indices):
        for mixer, mixer_seed in zip(mixers, tf.unstack(_seeds(seed, indices[0])[2:])):
            # Keras's MixUp and CutMix draw from a stateful seed generator: pin its state to the batch's own seed
            # first, so that the batch is mixed the same way on every run (this map runs sequentially for that).
            state = mixer.generator.state
            with tf.control_dependencies([state.assign(tf.cast(mixer_seed, state.dtype))]):
                mixed = mixer({"images": images, "labels": labels})
            images, labels = mixed["images"], mixed["labels"]
        return (images / 255.0 - mean) / std, labels

    dataset = dataset.map(finish, num_parallel_calls=None if mixers else tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
