"""Digit scenes as a training data source of `keras_vit.train`: a task recipe names it in `data.source`."""

from keras_vit.registry import register


@register("data_source", "digit_scenes")
class DigitScenesSource:
    """Training and held-out digit scenes (`digit_scenes`) as batches of (image, target) for a task model.

    The model says what its target is: `model.targets_from_example(example)` turns one example of
    `scenes_dataset` (a dict of image, boxes, labels, mask, num_objects) into it, e.g. the semantic mask for a
    segmenter, the boxes and labels for DETR. A classifier (no `targets_from_example`) learns to name the digit of
    scenes that hold one (min_objects = max_objects = 1): digits at the scenes' range of scales. Scenes are drawn at
    the model's input size; images are scaled to [0, 1], turned to luma for a 1-channel model (the scenes' gray is
    repeated in all 3) and normalized by (x - mean) / std.

    Args:
        num_train_scenes: training scenes (one epoch), drawn from the training digits.
        num_eval_scenes: held-out scenes, drawn from digits the training split never holds.
        min_objects, max_objects, min_height, max_height: as `digit_scenes`; max_objects also pads the targets.
        shuffle_buffer: examples in the training stream's shuffle buffer.
        split_seed: the seed of the digit split (`split_indices`): the split a backbone's classifier was trained
            on (offline_mnist's seed, 0 by default), so that held-out scenes hold only digits the backbone never saw,
            whatever the run's seed. None: the run's seed.
        seed: the scenes and the shuffle (the run's seed; set by keras_vit.train).
        mean, std: normalization (the recipe's data.mean and data.std; set by keras_vit.train).

    Attributes:
        num_examples: training scenes per epoch (keras_vit.train derives the steps from it).
    """

    def __init__(self, num_train_scenes=4000, num_eval_scenes=1000, min_objects=1, max_objects=5, min_height=20,
                 max_height=48, shuffle_buffer=4000, split_seed=0, seed=0, mean=0.5, std=0.5):
        for key, value in {"num_train_scenes": num_train_scenes, "num_eval_scenes": num_eval_scenes,
                           "shuffle_buffer": shuffle_buffer}.items():
            if not (isinstance(value, int) and value >= (0 if key == "num_eval_scenes" else 1)):
                raise ValueError(f"digit_scenes: {key} must be a positive integer (num_eval_scenes may be 0: no "
                                 f"evaluation); received {value!r}.")
        self.num_examples = num_train_scenes
        self.num_eval_scenes = num_eval_scenes
        self.scene_args = {"min_objects": min_objects, "max_objects": max_objects, "min_height": min_height,
                           "max_height": max_height}
        self.shuffle_buffer = shuffle_buffer
        self.split_seed = split_seed
        self.seed = seed
        self.mean, self.std = mean, std

    def scenes(self, split, image_size):
        """DigitScenes of `split` ("train" or "test") at `image_size`, as the pipelines use them."""
        # Imported here: keras_vit.tasks.data loads keras_vit.data, hence TensorFlow, which `import keras_vit` must
        # not on another Keras backend.
        from keras_vit.tasks.data.digit_scenes import digit_scenes

        count = self.num_examples if split == "train" else self.num_eval_scenes
        return digit_scenes(split, count, seed=self.seed, image_size=image_size, split_seed=self.split_seed,
                            **self.scene_args)

    def pipelines(self, model, batch_size, start_batch=0):
        """(training stream, held-out batches or None) of (images (B, H, W, C) float32, targets) for `model`.

        The training stream repeats and reshuffles by the seed without end, a pure function of the seed; it starts at
        batch `start_batch` (a resumed run goes on with the batches it would have seen).
        """
        import tensorflow as tf

        from keras_vit.tasks.data.digit_scenes import scenes_dataset

        targets_from_example = getattr(model, "targets_from_example", None)
        if targets_from_example is None:
            if self.scene_args["min_objects"] != 1 or self.scene_args["max_objects"] != 1:
                raise ValueError(f"The data source digit_scenes trains task models (keras_vit.tasks: a segmenter, "
                                 f"DETR), and classifiers on scenes of one digit; {model.name!r} has no "
                                 f"targets_from_example(): set min_objects and max_objects to 1 to train it to name "
                                 f"the digit, or use a classification data source (data.source: offline).")
            if model.outputs[0].shape[-1] != 10:  # a zoo model's default head has ImageNet's 1,000 classes
                raise ValueError(f"digit_scenes trains a classifier to name one of the 10 digits; {model.name!r} has "
                                 f"{model.outputs[0].shape[-1]} outputs: set model.num_classes: 10.")
            targets_from_example = lambda example: example["labels"][0]  # noqa: E731  (the scene's one digit)
        height, width, channels = model.inputs[0].shape[1:]
        if height != width:
            raise ValueError(f"digit_scenes are square; the model takes {height}x{width} images: set the backbone's "
                             f"image_size to one number.")
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)

        def prepare(example):
            image = tf.cast(example["image"], tf.float32) / 255.0
            if channels == 1:  # luma, as the serving contract gives a grayscale model (keras_vit.tasks.serving)
                image = tf.image.rgb_to_grayscale(image)
            return (image - mean) / std, targets_from_example(example)

        def dataset(split, count):
            scenes = self.scenes(split, height)
            return scenes_dataset(scenes, max_objects=self.scene_args["max_objects"]), count

        train, count = dataset("train", self.num_examples)
        train = (train.shuffle(min(self.shuffle_buffer, count), seed=self.seed, reshuffle_each_iteration=True)
                 .repeat().map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
                 .batch(batch_size, drop_remainder=True).skip(start_batch).prefetch(2))
        if not self.num_eval_scenes:
            return train, None
        held_out, _ = dataset("test", self.num_eval_scenes)
        return train, held_out.map(prepare).batch(batch_size).prefetch(2)
