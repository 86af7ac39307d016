"""Resampling learned position tables to another patch grid (fine-tuning at 384 from 224 weights).

The prefix tokens' rows (the class token's embedding) are kept as they are; the grid rows are reshaped to
(rows, cols, D), resized, and flattened back in row-major order. The interpolation matrices are the ones a model
made with `dynamic_image_size=True` builds in its graph (`keras_vit.layers._resampling`), applied here in float64:

    bilinear (default)  linear interpolation with the corners aligned, as scipy.ndimage.zoom(order=1) does in the
                        original ViT release's loader
    bicubic             timm's resampling: PyTorch's interpolate(mode="bicubic", align_corners=False,
                        antialias=True)
"""

import math

import numpy as np


def _matrix(old, new, interpolation):
    from keras import ops

    from keras_vit.layers._resampling import interpolation_matrix

    return np.asarray(ops.convert_to_numpy(interpolation_matrix(old, int(new), interpolation, "float64")))


def resample_grid(grid, new_size, interpolation="bilinear"):
    """Resizes a (rows, cols, D) table to (new_rows, new_cols, D).

    Args:
        grid: array of shape (rows, cols, D).
        new_size: (new_rows, new_cols).
        interpolation: "bilinear" (align-corners, the original release) or "bicubic" (timm's); another name
            raises ValueError (from `interpolation_matrix`).

    Returns:
        float32 array of shape (new_rows, new_cols, D).
    """
    grid = np.asarray(grid, np.float64)
    out = np.einsum("ri,ijd->rjd", _matrix(grid.shape[0], new_size[0], interpolation), grid)
    out = np.einsum("cj,rjd->rcd", _matrix(grid.shape[1], new_size[1], interpolation), out)
    return out.astype(np.float32)


def resample_position_table(table, new_grid, num_prefix_tokens=1, old_grid=None, interpolation="bilinear"):
    """Resamples a learned 1-D position table to another patch grid, keeping the prefix tokens' rows.

    Args:
        table: array of shape (1, num_prefix_tokens + rows * cols, D) or (num_prefix_tokens + rows * cols, D).
        new_grid: (new_rows, new_cols) of the model.
        num_prefix_tokens: rows before the grid (1 for the class token).
        old_grid: (rows, cols) of the table; inferred as a square when None.
        interpolation: "bilinear" (default, as the original ViT release) or "bicubic".

    Returns:
        An array of shape (1, num_prefix_tokens + new_rows * new_cols, D) (or without the leading 1, as given).

    Example:
        >>> table_384 = resample_position_table(table_224, (24, 24))     # (1, 197, D) -> (1, 577, D)
    """
    table = np.asarray(table)
    batched = table.ndim == 3
    rows_2d = table[0] if batched else table
    prefix, grid = rows_2d[:num_prefix_tokens], rows_2d[num_prefix_tokens:]
    inferred = old_grid is None  # then a square grid
    old_grid = (math.isqrt(grid.shape[0]),) * 2 if inferred else tuple(old_grid)
    if old_grid[0] * old_grid[1] != grid.shape[0]:
        what = "which is not a square grid: pass its grid size explicitly" if inferred else f"not {old_grid}"
        raise ValueError(f"The position table has {grid.shape[0]} grid positions, {what}.")
    grid = resample_grid(grid.reshape(old_grid[0], old_grid[1], -1), new_grid, interpolation)
    out = np.concatenate([prefix.astype(np.float32), grid.reshape(-1, grid.shape[-1])], axis=0)
    return out[None] if batched else out


def resample_axis_table(table, new_length, interpolation="bilinear"):
    """Resamples a (length, D) table along its first axis (the row or column table of a learned 2-D encoding)."""
    table = np.asarray(table)
    return resample_grid(table[:, None, :], (new_length, 1), interpolation)[:, 0, :]
