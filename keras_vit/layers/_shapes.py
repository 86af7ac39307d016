"""Static sizes where the graph has them, run-time sizes where it does not (a model with dynamic_image_size)."""

from keras import ops


def dim(x, axis):
    """`x.shape[axis]` when it is static (an int, so fixed-size graphs keep their static shapes), else the size
    `ops.shape` reads when the graph runs."""
    return x.shape[axis] if x.shape[axis] is not None else ops.shape(x)[axis]
