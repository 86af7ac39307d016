"""Data for detection and segmentation: offline digit scenes and COCO-format datasets.

Boxes everywhere here are normalized [ymin, xmin, ymax, xmax] (the TF Object Detection API's order).

    >>> scenes = digit_scenes("train", num_scenes=1000, seed=0)
    >>> batches = scenes_dataset(scenes, max_objects=10).batch(32)
"""

from keras_vit.tasks.data.coco import CocoData, CocoExample, coco_from_tfds, read_coco
from keras_vit.tasks.data.digit_scenes import DigitScenes, digit_scenes, scenes_dataset, split_indices

__all__ = ["CocoData", "CocoExample", "DigitScenes", "coco_from_tfds", "digit_scenes", "read_coco",
           "scenes_dataset", "split_indices"]
