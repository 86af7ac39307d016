"""A hand-built functional model with a `layout` whose names match none of the zoo's, so that a test passes only if
the code under test reads the layout."""

import keras

from keras_vit.models.layout import ModelLayout


def laid_out_model(num_classes=3):
    images = keras.Input((8, 8, 3), name="images")
    x = keras.layers.Conv2D(4, 4, strides=4, name="embed")(images)
    x = keras.layers.Reshape((4, 4), name="flatten")(x)
    x = keras.layers.Dense(4, name="unit_a")(x)
    x = keras.layers.Dense(4, name="unit_b")(x)
    pooled = keras.layers.GlobalAveragePooling1D(name="mean")(x)
    model = keras.Model(images, keras.layers.Dense(num_classes, name="top")(pooled), name="laid_out")
    model.layout = ModelLayout(
        blocks=("unit_a", "unit_b"), stem=("embed", "flatten"), grid_size=(2, 2), pooled="mean", head="top",
        head_variables=("top/kernel", "top/bias"),
    )
    return model
