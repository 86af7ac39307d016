"""The learned position embeddings' cosine similarity, patch against patch (the ViT paper's figure 7, center)."""

import keras
import numpy as np

from keras_vit.models.layout import model_layout


def position_similarity(model):
    """Cosine similarity between the position embedding of every patch and those of all other patches.

    Args:
        model: a zoo model with a learned position table (`model.layout.position_tables`; of a model with one per
            block, position_placement="every_layer", the first).

    Returns:
        float32 array (rows, columns, rows, columns): entry [r, c] is the (rows, columns) map of patch (r, c)'s
        similarity to every patch; prefix tokens (the class token) are left out.
    """
    tables = model_layout(model, "position_similarity").position_tables
    if not tables:
        raise ValueError(
            f"position_similarity: model {model.name!r} has no learned position table (its position encoding is "
            "fixed, relative or none): build one with position_encoding='learned_1d' or 'learned_2d'."
        )
    table = tables[0]
    layer = model.get_layer(table.layer)
    values = np.asarray(keras.ops.convert_to_numpy(layer.position_table()), "float64")
    values = values.reshape(-1, values.shape[-1])[table.num_prefix_tokens :]
    unit = values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), 1e-12)
    rows, columns = table.grid_size
    return (unit @ unit.T).reshape(rows, columns, rows, columns).astype("float32")
