"""Static sizes where the graph has them, run-time sizes where it does not (a model with dynamic_image_size)."""

import os

from keras import ops


def dim(x, axis):
    """`x.shape[axis]` when it is static (an int, so fixed-size graphs keep their static shapes), else the size
    `ops.shape` reads when the graph runs."""
    return x.shape[axis] if x.shape[axis] is not None else ops.shape(x)[axis]


def check_patch_grid(input_shape, patch_size, layer):
    """Refuses images (batch, height, width, channels) of `input_shape` that `layer` (its class name) cannot cut into
    patches of `patch_size` (height, width); a None side (dynamic_image_size) is checked when the graph runs."""
    if len(input_shape) != 4:
        raise ValueError(f"{layer} expects images of shape (batch, height, width, channels); received {input_shape}.")
    for axis, side in ((1, "height"), (2, "width")):
        size, patch = input_shape[axis], patch_size[axis - 1]
        if size is not None and size % patch:
            raise ValueError(
                f"Image {side} {size} is not a multiple of the patch {side} {patch}: resize the images or choose "
                f"an image_size that is a multiple of patch_size."
            )


def check_attention_size(shape, num_heads, dtype):
    """Refuses attention over tokens of static `shape` (batch, num_tokens, width) whose weights (batch, num_heads,
    num_tokens, num_tokens) alone exceed this machine's memory: one clear error at once, instead of running out of
    memory later (a model made with dynamic_image_size takes 4096x4096 images). Unknown sizes pass."""
    # Static sizes only: None, or a JAX symbolic size while Keras infers shapes, tells nothing yet
    batch, tokens = [max(size, 1) if isinstance(size, int) else 1 for size in shape[:2]]
    itemsize = 2 if "16" in str(dtype) else 4
    needed, sysconf = batch * num_heads * tokens**2 * itemsize, getattr(os, "sysconf", None)  # none on Windows
    memory = sysconf("SC_PAGE_SIZE") * sysconf("SC_PHYS_PAGES") if sysconf else needed
    if needed > memory:
        raise ValueError(
            f"Attention over {tokens:,} tokens needs {needed / 2**30:,.0f} GiB for its weights alone (batch {batch} x "
            f"{num_heads} heads x {tokens:,}^2 x {itemsize} bytes), more than this machine's {memory / 2**30:.0f} GiB: "
            "use smaller images (an image makes (height / patch) x (width / patch) tokens), fewer images per batch or "
            "a larger patch."
        )
