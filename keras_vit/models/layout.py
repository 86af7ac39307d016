"""What a zoo model publishes about its own structure, so that downstream code (weights, optimizers, export,
feature extraction) never matches layer or variable names."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class PositionTable:
    """A resamplable position table.

    Attributes:
        layer: the layer's name in the model.
        num_prefix_tokens: rows before the patch grid (class, distillation, register tokens); 0 for a table that
            covers the patches only.
        grid_size: (rows, columns) of the patch grid the table is sized for.
        variables: (variable path, axis) of each resamplable variable: axis None for a table over the prefix rows
            and the grid (row-major), 0 for a table over the grid's rows, 1 over its columns.
    """

    layer: str
    num_prefix_tokens: int
    grid_size: tuple
    variables: tuple = ()


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """The published structure of a zoo model (`model.layout`).

    Attributes:
        blocks: names of the repeated blocks in order (transformer or TNT blocks, ResNet units); layer-wise
            learning-rate decay counts depth along them and `feature_extractor` taps them.
        stem: names of the layers before the first block (patch embedding, tokens, positions, a convolutional stem).
        position_tables: the resamplable position tables.
        num_prefix_tokens: tokens before the patch grid in the blocks' sequence (0 for a ResNet).
        grid_size: (rows, columns) of the patch grid (of the final feature map for a ResNet).
        stem_stride: input pixels per patch-grid step taken by the stem before the patch embedding (1 without one).
        patch_size: (height, width) of a patch in the stem's output (in image pixels without a stem); () for a
            model without patches (a ResNet).
        dynamic_image_size: whether the model takes images of any size that patch_size * stem_stride divides
            (its input's height and width are None); grid_size and the input size it was made for stay its own.
        pooled: name of the layer whose output is the pooled features (the head's input); None with pooling none.
        head: name of the classifier layer; None without one.
        head_variables: variable paths of the final classifier (kernel and bias), dropped together when a
            checkpoint has another number of classes; empty without a head.
        pre_logits_variables: variable paths of the pre-logits (representation) layer; empty without one.
        no_decay_variables: variable paths that weight decay skips: biases, norms' scales and offsets (every
            variable of rank <= 1), position tables, and class, distillation and register tokens.
        block_stages: (stage, unit), 0-based, of each block for a model whose blocks form stages (a ResNet);
            empty when the blocks form one sequence.
        readout: (start, stop) of the rows of the blocks' token sequence that the pooling reads (stop None: to the
            end); None when the pooling does not say (attention pooling, a plugin's, or none).
        attention_pooling: name of the pooling layer when it pools by attention (it publishes
            `attention_probabilities`); None otherwise.
        backbone: for a task model (keras_vit.tasks), the name of the layer that runs its zoo backbone; None
            otherwise.
    """

    blocks: tuple = ()
    stem: tuple = ()
    position_tables: tuple = ()
    num_prefix_tokens: int = 0
    grid_size: tuple = ()
    stem_stride: int = 1
    patch_size: tuple = ()
    dynamic_image_size: bool = False
    pooled: str | None = None
    head: str | None = None
    head_variables: tuple = ()
    pre_logits_variables: tuple = ()
    no_decay_variables: tuple = ()
    block_stages: tuple = ()
    readout: tuple | None = None
    attention_pooling: str | None = None
    backbone: str | None = None


def image_multiple(layout):
    """(height, width) that a model's image sizes must be multiples of: the patch size times the stem's stride."""
    patch = layout.patch_size or (1, 1)
    return (patch[0] * layout.stem_stride, patch[1] * layout.stem_stride)


def model_layout(model, purpose):
    """`model.layout`, or a ValueError saying that `purpose` needs a zoo model (a plain Keras model has none)."""
    layout = getattr(model, "layout", None)
    if layout is None:
        raise ValueError(
            f"{purpose} needs a keras_vit zoo model (model.layout); model {getattr(model, 'name', model)!r} has none: "
            "build it with keras_vit.create."
        )
    return layout


def built_fields(model, tables=(), undecayed=(), pooling=None):
    """The layout fields read off a family's built model.

    Args:
        model: the built model.
        tables: its PositionTables; the learned ones are kept, each with its resamplable variables (a layer's
            `axis_tables`, the row and column tables, where it has them; else its every weight as one table).
        undecayed: names of further layers whose variables weight decay skips (tokens, relative positions); it
            also skips the tables' variables and every variable of rank <= 1 (biases, norms).
        pooling: the pooling layer or None: the token rows it reads (its `readout_rows`) and, when it attends
            (`attention_probabilities`), its name.
    """
    learned = []
    for table in tables:
        layer = model.get_layer(table.layer)
        if layer.trainable_weights:
            axes = getattr(layer, "axis_tables", None)
            variables = tuple(zip((v.path for v in axes), (0, 1))) if axes else tuple((v.path, None) for v in layer.weights)
            learned.append(dataclasses.replace(table, variables=variables))
    skipped = {v.path for name in {*undecayed, *(t.layer for t in tables)} for v in model.get_layer(name).weights}
    fields = {"position_tables": tuple(learned),
              "no_decay_variables": tuple(v.path for v in model.weights if len(v.shape) <= 1 or v.path in skipped)}
    if pooling is not None:
        fields["readout"] = getattr(pooling, "readout_rows", None)
        fields["attention_pooling"] = pooling.name if hasattr(pooling, "attention_probabilities") else None
    return fields
