"""Position-table resampling: the class token's row is kept, a grid resampled to its own size is unchanged, and
bilinear resampling is the original release's (scipy.ndimage.zoom with order=1)."""

import numpy as np
import pytest

from keras_vit.weights import resample_grid, resample_position_table

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_same_grid_is_unchanged(interpolation):
    table = RNG.normal(size=(1, 1 + 14 * 14, 8)).astype("float32")
    out = resample_position_table(table, (14, 14), interpolation=interpolation)
    np.testing.assert_allclose(out, table, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_224_to_384_keeps_the_class_token(interpolation):
    table = RNG.normal(size=(1, 197, 16)).astype("float32")
    out = resample_position_table(table, (24, 24), num_prefix_tokens=1, interpolation=interpolation)
    assert out.shape == (1, 577, 16)
    np.testing.assert_array_equal(out[0, 0], table[0, 0])


def test_bilinear_by_hand():
    grid = np.array([[0.0, 2.0], [4.0, 6.0]])[..., None]  # a plane: value = 2 * col + 4 * row
    out = resample_grid(grid, (3, 3))[..., 0]
    np.testing.assert_allclose(out, [[0, 1, 2], [2, 3, 4], [4, 5, 6]])


def test_bilinear_equals_scipy_zoom_order_1():
    ndimage = pytest.importorskip("scipy.ndimage")
    grid = RNG.normal(size=(14, 14, 5))
    expected = ndimage.zoom(grid, (24 / 14, 24 / 14, 1), order=1)
    np.testing.assert_allclose(resample_grid(grid, (24, 24)), expected, rtol=1e-5, atol=1e-5)


def test_non_square_table_needs_its_grid():
    table = RNG.normal(size=(1, 1 + 12, 4))
    with pytest.raises(ValueError, match="not a square grid"):
        resample_position_table(table, (4, 4))
    out = resample_position_table(table, (6, 8), old_grid=(3, 4))
    assert out.shape == (1, 49, 4)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resample_grid(np.zeros((2, 2, 1)), (3, 3), interpolation="nearest")
