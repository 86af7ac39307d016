"""One-axis resampling weights written as plain loops from the published algorithms, independent of keras_vit's
keras.ops matrices: scipy.ndimage.zoom(order=1) (the original ViT release) and PyTorch's
interpolate(mode="bicubic", align_corners=False, antialias=True) (timm), as ATen's CPU kernel computes it."""

import numpy as np


def aligned_linear(old, new):
    """(new, old) weights of linear interpolation with the corner samples aligned (zoom with order=1)."""
    weights = np.zeros((new, old))
    for i in range(new):
        x = 0.0 if new == 1 else i * (old - 1) / (new - 1)
        left = min(int(np.floor(x)), max(old - 2, 0))
        t = x - left
        weights[i, left] += 1.0 - t
        if t:
            weights[i, left + 1] += t
    return weights


def _pil_cubic(x, a=-0.5):
    """Keys' cubic convolution with a = -0.5 (PIL's, which PyTorch's antialiased bicubic uses)."""
    x = abs(x)
    if x < 1.0:
        return (a + 2.0) * x**3 - (a + 3.0) * x**2 + 1.0
    if x < 2.0:
        return a * x**3 - 5.0 * a * x**2 + 8.0 * a * x - 4.0 * a
    return 0.0


def torch_bicubic_antialias(old, new):
    """(new, old) weights of torch's antialiased bicubic: output i is centred at (i + 0.5) * old / new; the
    filter's support is 2 input samples, times old / new when shrinking (the filter stretched by that factor);
    samples outside [0, old) are left out and the remaining weights normalized to sum 1."""
    scale = old / new
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    weights = np.zeros((new, old))
    for i in range(new):
        center = scale * (i + 0.5)
        first = max(int(center - support + 0.5), 0)
        stop = min(int(center + support + 0.5), old)
        taps = {j: _pil_cubic((j + 0.5 - center) / stretch) for j in range(first, stop)}
        total = sum(taps.values())
        for j, w in taps.items():
            weights[i, j] = w / total
    return weights


REFERENCE = {"bilinear": aligned_linear, "bicubic": torch_bicubic_antialias}


def resample_table(table, old_grid, new_grid, num_prefix_tokens, interpolation):
    """A (prefix + rows * cols, D) table with its grid rows resampled to new_grid, prefix rows kept."""
    prefix, grid = table[:num_prefix_tokens], table[num_prefix_tokens:].reshape(*old_grid, -1)
    rows = REFERENCE[interpolation](old_grid[0], new_grid[0])
    cols = REFERENCE[interpolation](old_grid[1], new_grid[1])
    grid = np.einsum("ri,cj,ijd->rcd", rows, cols, grid.astype(np.float64))
    return np.concatenate([prefix, grid.reshape(-1, table.shape[-1])]).astype(np.float32)
