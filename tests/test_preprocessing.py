"""keras_vit.preprocessing: resize to the model's size, then (x / 255 - mean) / std."""

import numpy as np
import pytest

import keras_vit


def test_preprocessing_of_a_zoo_name_maps_pixels_to_minus_one_one():
    prep = keras_vit.preprocessing("vit_ti16")
    images = np.zeros((2, 50, 40, 3), "uint8")
    images[1] = 255
    out = np.asarray(prep(images))
    assert out.shape == (2, 224, 224, 3)  # vit_ti16's spec size
    np.testing.assert_allclose(out[0], -1.0, atol=1e-6)  # (0 / 255 - 0.5) / 0.5
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)  # (255 / 255 - 0.5) / 0.5


def test_preprocessing_of_a_built_model_follows_its_input_and_overrides():
    model = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny)
    prep = keras_vit.preprocessing(model, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    out = np.asarray(prep(np.full((1, 32, 32, 3), 51, "float32")))
    expected = (0.2 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-5)


def test_bad_statistics_and_channels_are_clear_errors():
    with pytest.raises(ValueError, match="`mean` needs 1 or 3 values"):
        keras_vit.ImagePreprocessing(32, mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="every `std` value must be positive"):
        keras_vit.ImagePreprocessing(32, std=0.0)
    with pytest.raises(ValueError, match="expected images with 3 channels"):
        keras_vit.ImagePreprocessing(32)(np.zeros((1, 32, 32, 1), "float32"))
