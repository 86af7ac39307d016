"""keras_vit.tasks.data: digit scenes checked against NumPy recomputations, and the COCO reader on a hand-written
instances JSON with hand-computed boxes and mask areas."""

import json
from itertools import combinations

import numpy as np
import pytest

from keras_vit.data.offline import _load_arrays, offline_mnist
from keras_vit.tasks.data import coco_from_tfds, digit_scenes, read_coco, scenes_dataset, split_indices

SIZE = 128


@pytest.fixture(scope="module")
def train_scenes():
    return digit_scenes("train", 24, seed=0, image_size=SIZE, instance_masks=True)


@pytest.fixture(scope="module")
def test_scenes():
    return digit_scenes("test", 24, seed=0, image_size=SIZE)


def _tight_box(mask):
    rows, cols = np.nonzero(mask)
    return np.array([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]) / SIZE


def test_same_seed_same_scenes_other_seed_other_scenes(train_scenes):
    again = digit_scenes("train", 24, seed=0, image_size=SIZE)
    np.testing.assert_array_equal(again.images, train_scenes.images)
    np.testing.assert_array_equal(again.masks, train_scenes.masks)
    for a, b in zip(again.boxes, train_scenes.boxes):
        np.testing.assert_array_equal(a, b)
    other = digit_scenes("train", 24, seed=1, image_size=SIZE)
    assert not np.array_equal(other.images, train_scenes.images)


def test_counts_heights_overlap_and_formats(train_scenes):
    s = train_scenes
    assert s.images.shape == (24, SIZE, SIZE, 3) and s.images.dtype == np.uint8
    assert (s.images[..., 0] == s.images[..., 2]).all()  # gray repeated
    assert s.masks.shape == (24, SIZE, SIZE) and s.masks.max() <= 10
    counts = [len(b) for b in s.boxes]
    assert min(counts) >= 1 and max(counts) <= 5 and len(set(counts)) > 2
    _, digit_labels = _load_arrays()
    for boxes, labels, sources in zip(s.boxes, s.labels, s.source_indices):
        np.testing.assert_array_equal(labels, digit_labels[sources])
        heights = np.round((boxes[:, 2] - boxes[:, 0]) * SIZE)
        assert ((heights >= 20) & (heights <= 48)).all(), heights
        assert ((boxes >= 0) & (boxes <= 1)).all()
        for a, b in combinations(boxes, 2):
            inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            assert inter / union <= 0.3 + 1e-6


def test_boxes_are_the_tight_boxes_of_the_masks(train_scenes):
    s = train_scenes
    for boxes, instances in zip(s.boxes, s.instance_masks):
        for box, mask in zip(boxes, instances):
            np.testing.assert_allclose(box, _tight_box(mask), atol=1e-6)
    singles = [i for i, b in enumerate(s.boxes) if len(b) == 1]
    assert singles, "the fixture should hold a scene with one digit"
    for i in singles:
        semantic = s.masks[i]
        np.testing.assert_allclose(s.boxes[i][0], _tight_box(semantic > 0), atol=1e-6)
        assert set(np.unique(semantic)) == {0, s.labels[i][0] + 1}
        # The mask is the pixels above half the digit's maximum (up to the image's rounding to uint8).
        gray = s.images[i, ..., 0].astype(float)
        assert (gray[semantic > 0] >= gray.max() / 2 - 1).all()
        assert not (semantic[gray > gray.max() / 2 + 1] == 0).any()


def test_held_out_scenes_use_only_digits_training_never_saw(train_scenes, test_scenes):
    train_pool, test_pool = set(split_indices("train", 0)), set(split_indices("test", 0))
    assert not train_pool & test_pool and len(train_pool | test_pool) == 5000
    used_train = set(np.concatenate(train_scenes.source_indices))
    used_test = set(np.concatenate(test_scenes.source_indices))
    assert used_train <= train_pool and used_test <= test_pool and not used_train & used_test
    # The same split as the classifier's offline_mnist("test", seed=0).
    images, _ = _load_arrays()
    held_out = next(iter(offline_mnist("test", seed=0).dataset.batch(5000)))[0].numpy()
    np.testing.assert_array_equal(held_out, images[split_indices("test", 0)])


def test_placement_failures_are_counted_and_reported():
    # Five digits at least 40 px tall cannot all fit in 48 x 48 with IoU <= 0.3: the rest are counted, not hidden.
    with pytest.warns(UserWarning, match="digit\\(s\\) found no position"):
        crowded = digit_scenes("train", 3, seed=0, image_size=48, min_objects=5, min_height=40, max_tries=5)
    placed = sum(len(b) for b in crowded.boxes)
    assert crowded.placement_failures > 0 and placed + crowded.placement_failures == 15


def test_scenes_dataset_pads_to_max_objects(train_scenes):
    example = next(iter(scenes_dataset(train_scenes, max_objects=7).batch(3)))
    assert example["image"].shape == (3, SIZE, SIZE, 3) and example["mask"].shape == (3, SIZE, SIZE)
    assert example["boxes"].shape == (3, 7, 4) and example["labels"].shape == (3, 7)
    n = len(train_scenes.labels[0])
    assert int(example["num_objects"][0]) == n
    np.testing.assert_array_equal(example["labels"][0, n:].numpy(), -1)
    np.testing.assert_array_equal(example["labels"][0, :n].numpy(), train_scenes.labels[0])
    with pytest.raises(ValueError, match="raise max_objects"):
        scenes_dataset(train_scenes, max_objects=2)


# --- COCO ---------------------------------------------------------------------------------------------------------

# Image 1 is 10 rows x 20 columns, image 2 is 8 x 8. Categories 3, 5, 17 become classes 0, 1, 2.
COCO_JSON = {
    "images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 20},
               {"id": 2, "file_name": "b.png", "height": 8, "width": 8}],
    "categories": [{"id": 17, "name": "dog"}, {"id": 3, "name": "bird"}, {"id": 5, "name": "cat"}],
    "annotations": [
        # x 2..6, y 1..4; the polygon is the same rectangle: 4 x 3 = 12 pixels.
        {"id": 10, "image_id": 1, "category_id": 5, "bbox": [2, 1, 4, 3], "iscrowd": 0,
         "segmentation": [[2, 1, 6, 1, 6, 4, 2, 4]]},
        # x 15..25 reaches past the width 20: clipped to x 15..20; uncompressed RLE (column-major) of rows 5..8 of
        # columns 15..19: 155 zeros, then 4 ones and 6 zeros per column, 20 pixels.
        {"id": 11, "image_id": 1, "category_id": 17, "bbox": [15, 5, 10, 4], "iscrowd": 0,
         "segmentation": {"size": [10, 20], "counts": [155, 4, 6, 4, 6, 4, 6, 4, 6, 4, 1]}},
        # zero width: dropped and counted.
        {"id": 12, "image_id": 1, "category_id": 5, "bbox": [3, 3, 0, 5], "iscrowd": 0,
         "segmentation": [[3, 3, 3, 8, 3, 8]]},
        # compressed RLE of columns 0..3 of the 8 x 8 image (counts 0, 32, 32): 32 pixels.
        {"id": 13, "image_id": 2, "category_id": 3, "bbox": [0, 0, 4, 8], "iscrowd": 0,
         "segmentation": {"size": [8, 8], "counts": "0P1P1"}},
        # a crowd box without a segmentation: its mask is the box, 4 x 4 = 16 pixels.
        {"id": 14, "image_id": 2, "category_id": 17, "bbox": [4, 4, 4, 4], "iscrowd": 1},
    ],
}


@pytest.fixture
def coco_dir(tmp_path):
    import tensorflow as tf

    for name, (h, w) in {"a.png": (10, 20), "b.png": (8, 8)}.items():
        tf.io.write_file(str(tmp_path / name), tf.io.encode_png(np.zeros((h, w, 3), np.uint8)))
    (tmp_path / "instances.json").write_text(json.dumps(COCO_JSON))
    return tmp_path


def test_read_coco_boxes_classes_and_masks(coco_dir):
    with pytest.warns(UserWarning, match="'clipped': 1, 'degenerate': 1"):
        data = read_coco(str(coco_dir), str(coco_dir / "instances.json"), with_masks=True)
    assert data.category_ids == (3, 5, 17) and data.class_names == ("bird", "cat", "dog")
    assert data.report == {"clipped": 1, "degenerate": 1, "crowd_skipped": 0, "missing_images": 0,
                           "masks_from_boxes": 1, "images_without_objects": 0}
    a, b = data.examples
    assert a.path == str(coco_dir / "a.png") and (a.height, a.width) == (10, 20)
    np.testing.assert_allclose(a.boxes, [[0.1, 0.1, 0.4, 0.3], [0.5, 0.75, 0.9, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(a.labels, [1, 2])
    np.testing.assert_array_equal(a.annotation_ids, [10, 11])
    assert a.masks.shape == (2, 10, 20) and a.masks.sum(axis=(1, 2)).tolist() == [12, 20]
    assert a.masks[0, 1:4, 2:6].all() and a.masks[1, 5:9, 15:20].all()
    np.testing.assert_allclose(b.boxes, [[0, 0, 1, 0.5], [0.5, 0.5, 1, 1]], atol=1e-6)
    np.testing.assert_array_equal(b.labels, [0, 2])
    np.testing.assert_array_equal(b.is_crowd, [False, True])
    assert b.masks.sum(axis=(1, 2)).tolist() == [32, 16] and b.masks[0, :, :4].all()


def test_read_coco_bad_input(coco_dir):
    bad = json.loads(json.dumps(COCO_JSON))
    bad["annotations"][0]["category_id"] = 99
    with pytest.raises(ValueError, match=r"category ids \[99\]"):
        read_coco(str(coco_dir), bad)
    (coco_dir / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 2 image files are missing"):
        read_coco(str(coco_dir), COCO_JSON)
    with pytest.warns(UserWarning, match="'missing_images': 1"):
        data = read_coco(str(coco_dir), COCO_JSON, skip_missing_images=True, skip_crowd=True)
    assert [e.image_id for e in data.examples] == [1] and data.report["crowd_skipped"] == 0


def test_coco_from_tfds_names_the_build_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="tfds build coco/2017"):
        coco_from_tfds("validation", data_dir=str(tmp_path))
