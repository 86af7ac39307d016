"""Data sources and the tf.data pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_vit.data import load_dataset, make_pipeline


def as_arrays(labeled):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in labeled.dataset])
    return np.stack(images), np.array(labels)


def test_offline_split_is_real_disjoint_and_deterministic():
    train, test = load_dataset("offline", split="train"), load_dataset("offline:mnist", split="test")
    assert (train.num_examples, test.num_examples, train.num_classes) == (4000, 1000, 10)
    x_train, y_train = as_arrays(train)
    x_test, y_test = as_arrays(test)
    assert x_train.shape == (4000, 28, 28, 1) and x_train.dtype == np.uint8
    assert set(y_train) == set(y_test) == set(range(10))
    # MNIST digits are mostly background: the mean pixel of the real images is about 33 of 255
    assert 25 < x_train.mean() < 40
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)
    again, _ = as_arrays(load_dataset("offline", split="train"))
    np.testing.assert_array_equal(again, x_train)
    other, _ = as_arrays(load_dataset("offline", split="train", seed=1))
    assert not np.array_equal(other, x_train)
    rgb = next(iter(load_dataset("offline", split="test", num_channels=3).dataset))[0].numpy()
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def write_image(path, value, size, kind):
    image = np.full((*size, 3), value, np.uint8)
    data = tf.io.encode_png(image) if kind == "png" else tf.io.encode_jpeg(image, quality=100)
    path.write_bytes(data.numpy())


def make_folder(root):
    for name, value in (("cat", 10), ("dog", 200)):
        (root / name).mkdir(parents=True)
        for i in range(3):
            write_image(root / name / f"{i}.{'png' if i % 2 else 'jpg'}", value, (20 + i, 30), "png" if i % 2 else "jpg")
    (root / "dog" / "notes.txt").write_text("not an image")


def test_image_folder_labels_by_sorted_class_name(tmp_path):
    make_folder(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 file"):
        data = load_dataset(f"folder:{tmp_path}", split="all")
    assert data.class_names == ("cat", "dog") and data.num_examples == 6
    batches = make_pipeline(data, image_size=16, batch_size=6, training=False, mean=0.0, std=1.0)
    (images, labels), = list(batches)
    assert tuple(images.shape) == (6, 16, 16, 3)
    # solid images keep their value after resizing: cat pixels 10/255, dog pixels 200/255 (JPEG within 2 levels)
    for image, label in zip(images.numpy(), labels.numpy()):
        assert abs(image.mean() * 255 - (10, 200)[label]) < 2.5


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="no class subfolders"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="empty_class holds no images"):
        load_dataset(str(tmp_path))


def test_an_unreadable_image_is_named_before_anything_reads_the_data_or_skipped_on_request(tmp_path):
    # The user's input (issue 27): one PNG cut to its first 60 bytes among good images ("Invalid PNG data, size 60"
    # deep inside epoch 1 before).
    make_folder(tmp_path)
    broken = tmp_path / "dog" / "1.png"
    broken.write_bytes(broken.read_bytes()[:60])
    (tmp_path / "cat" / "fake.jpg").write_text("not a JPEG at all")  # a second kind: no image data whatsoever
    with pytest.warns(UserWarning, match="skipped 1 file"), pytest.raises(ValueError) as error:
        load_dataset(f"folder:{tmp_path}", split="all")
    message = str(error.value)
    assert "2 of 7 all files cannot be read as images" in message
    assert f"{broken} (" in message and str(tmp_path / "cat" / "fake.jpg") in message
    assert "data.unreadable_images: skip" in message
    with pytest.warns(UserWarning) as warned:
        data = load_dataset(f"folder:{tmp_path}", split="all", unreadable_images="skip")
    assert any(f"2 of 7 all files cannot be read as images:\n  {tmp_path / 'cat' / 'fake.jpg'}" in str(w.message)
               for w in warned)
    # The five good images remain, each read to its end (a skipped file would fail here), labels intact.
    assert data.num_examples == 5
    pairs = sorted((int(label), image.shape[0]) for image, label in data.dataset.as_numpy_iterator())
    assert pairs == [(0, 20), (0, 21), (0, 22), (1, 20), (1, 22)]
    with pytest.raises(ValueError, match="unreadable_images: must be one of 'error', 'skip'; received 'ignore'"):
        load_dataset(f"folder:{tmp_path}", unreadable_images="ignore")


def test_unknown_sources_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown data source 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="Did you mean 'cifar10'"):
        load_dataset("tfds:cifar1O")


def test_pipeline_normalizes_like_numpy_and_has_static_shapes():
    data = load_dataset("offline", split="test")
    batches = make_pipeline(data, image_size=28, batch_size=32, training=False)
    assert batches.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    images, labels = next(iter(batches))
    raw, raw_labels = as_arrays(data)
    np.testing.assert_allclose(images.numpy(), (raw[:32] / 255.0 - 0.5) / 0.5, atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), raw_labels[:32])
    train = make_pipeline(data, image_size=32, batch_size=32, training=True, horizontal_flip=True, random_crop=True)
    assert train.element_spec[0].shape.as_list() == [32, 32, 32, 1]


def test_mixup_and_cutmix_give_one_hot_labels_that_sum_to_one():
    data = load_dataset("offline", split="test", num_channels=3)
    batches = make_pipeline(
        data, image_size=32, batch_size=16, training=True, mixup_alpha=0.8, cutmix_alpha=1.0,
        label_smoothing=0.1, rand_augment={"num_ops": 2, "factor": 0.5},
    )
    images, labels = next(iter(batches))
    assert labels.shape == (16, 10) and labels.dtype == tf.float32
    np.testing.assert_allclose(labels.numpy().sum(-1), 1.0, atol=1e-5)
    assert (labels.numpy() > 0.5).sum() < 16  # mixing moved mass away from single classes
    assert np.isfinite(images.numpy()).all()


def test_held_out_labels_are_one_hot_without_smoothing_when_training_mixes():
    # A model trained on mixed, smoothed one-hot labels is compiled for one-hot labels: the held-out batches of the
    # same settings carry the plain one-hot labels of their digits, in order.
    data = load_dataset("offline", split="test")
    batches = make_pipeline(data, image_size=28, batch_size=8, training=False, mixup_alpha=0.8, label_smoothing=0.1)
    _, labels = next(iter(batches))
    np.testing.assert_array_equal(labels.numpy(), np.eye(10, dtype="float32")[as_arrays(data)[1][:8]])


def test_tfds_mock_data_runs_the_real_pipeline():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        data = load_dataset("tfds:cifar10", split="train")
        assert data.num_classes == 10 and len(data.class_names) == 10
        batches = make_pipeline(data, image_size=16, batch_size=4, training=True)
        images, labels = next(iter(batches))
    assert tuple(images.shape) == (4, 16, 16, 3) and images.dtype == tf.float32
    assert labels.dtype == tf.int64 and tuple(labels.shape) == (4,)
    assert -1.0 <= images.numpy().min() and images.numpy().max() <= 1.0
