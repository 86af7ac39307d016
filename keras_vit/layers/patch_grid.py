"""The first layer of a model made with dynamic_image_size=True: checks the image size, reads the patch grid."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.schema import pair


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchGrid(ConfigFromArguments, keras.layers.Layer):
    """Checks that the patches tile the images and returns the images with their patch grid (rows, columns).

    An internal layer of models that take any image size (not a component a spec names). A size the patches do not
    tile is rejected with a message naming the size and the patch: a ValueError where the size is known while the
    graph is built (eager calls, fixed-shape traces), a `tf.debugging` assert where it is known only when the graph
    runs (a SavedModel's signature, `fit` on batches of several sizes). The images pass through a reshape into
    patches and back, so that under XLA, which drops asserts, a bad size still fails (at compile time).

    Args:
        patch_size: int or (height, width) in image pixels: the patch size times the stride of a convolutional stem.

    Call arguments:
        images: (batch, height, width, channels).

    Returns:
        (images, grid): the same images, and an int32 tensor (height // patch_h, width // patch_w).
    """

    def __init__(self, patch_size=16, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = pair(patch_size)

    def _fix(self):
        patch_h, patch_w = self.patch_size
        return f"the patch size {patch_h}x{patch_w}: resize or crop the images to multiples of {patch_h}x{patch_w}"

    def call(self, images):
        patch_h, patch_w = self.patch_size
        height, width = images.shape[1], images.shape[2]
        if height is not None and width is not None:
            if height % patch_h or width % patch_w or not height or not width:  # 0 divides too, but holds no patch
                raise ValueError(f"Image size {height}x{width} (height x width) is not a multiple of {self._fix()}"
                                 f"{'' if height and width else ' (at least one patch each way)'}.")
            return images, ops.convert_to_tensor([height // patch_h, width // patch_w], "int32")
        images = self._assert_tiled(images)
        shape = ops.shape(images)
        rows, cols = shape[1] // patch_h, shape[2] // patch_w
        blocks = ops.reshape(images, (shape[0], rows, patch_h, cols, patch_w, images.shape[3]))
        return ops.reshape(blocks, shape), ops.cast(ops.stack([rows, cols]), "int32")

    def _assert_tiled(self, images):
        import tensorflow as tf  # the in-graph check is TensorFlow's (tf.debugging), as in the serving signatures

        shape = tf.shape(images)
        tiled = tf.reduce_all([shape[1] % self.patch_size[0] == 0, shape[2] % self.patch_size[1] == 0,
                               shape[1] > 0, shape[2] > 0])
        message = f"Image height and width must be positive multiples of {self._fix()}. Received (height, width):"
        check = tf.debugging.Assert(tiled, [message, shape[1:3]], summarize=2)
        with tf.control_dependencies([check]):
            return tf.identity(images)
