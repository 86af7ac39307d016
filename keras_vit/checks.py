"""Argument checks shared by specs and layers (no Keras import): each raises ValueError naming the argument and the received value."""

from __future__ import annotations


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")
    return value


def non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; received {value!r}.")
    return value


def rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1); received {value!r}.")
    return float(value)


def positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {value!r}.")
    return float(value)


def pair(name, value):
    """An int or a pair of ints -> a tuple (height, width) of positive ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be an int or a (height, width) pair; received {value!r}.")
        return (positive_int(f"{name}[0]", value[0]), positive_int(f"{name}[1]", value[1]))
    positive_int(name, value)
    return (value, value)


def one_of(name, value, choices):
    if value not in choices:
        from keras_vit.registry import suggest

        raise ValueError(
            f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; received {value!r}."
            f"{suggest(value, [c for c in choices if isinstance(c, str)])}"
        )
    return value


def divisible(name, value, divisor_name, divisor):
    if value % divisor:
        raise ValueError(
            f"`{name}`={value} is not divisible by `{divisor_name}`={divisor}; choose values where "
            f"{divisor_name} divides {name}."
        )
    return value


def tiling(image_size, patch_size, stride=1):
    """Raises ValueError unless patches of `patch_size` (after a stem of `stride`) tile an image of `image_size`."""
    for axis, side in enumerate(("height", "width")):
        if image_size[axis] % (stride * patch_size[axis]):
            raise ValueError(
                f"image_size {side} {image_size[axis]} is not divisible by the patch size {patch_size[axis]}"
                + (f" times the stem's stride {stride}" if stride > 1 else "")
                + f": choose an image_size that is a multiple of {stride * patch_size[axis]}."
            )
