"""Writing a zoo model's weights in a published checkpoint layout (timm's), by reading the converters' rules
backwards: each variable goes to the source tensors its `Rule` reads, through the inverse of its transform, so that
`keras_vit.weights.load` reads the file back into the same values, and the layout's own library loads it."""

import os

import numpy as np

from keras_vit.models.layout import model_layout
from keras_vit.weights.load import CONVERTERS, family_of
from keras_vit.weights.protocol import invert

LAYOUTS = ("timm",)


def save(model, path, *, layout="timm"):
    """Writes a zoo model's weights as a `.safetensors` checkpoint in another library's layout.

    Args:
        model: a zoo model whose family has a converter for `layout` (for timm: ViT, DeiT, the register models,
            DINOv2, SigLIP, EVA-02 and the ViT hybrids; TNT; BiT ResNets).
        path: the file to write (replaced if it exists).
        layout: "timm": timm's state dict (keys, PyTorch shapes, float32), which
            `timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path, num_classes=N), ...)`
            loads into the matching architecture.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown layout, a model family without a converter for it, a variable the layout has no
            tensor for, or a path that is a folder.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}: keras_vit.weights.save writes layout={' or '.join(map(repr, LAYOUTS))}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder: give the file to write, e.g. {os.path.join(path, 'model.safetensors')!r}.")
    model_layout(model, "keras_vit.weights.save")
    converters = [c for c in CONVERTERS if c.format.startswith(f"{layout}_")]
    family = family_of(model)
    converter = next((c for c in converters if family in c.families), None)  # one per family and layout
    if converter is None:
        known = sorted({f for c in converters for f in c.families})
        raise ValueError(f"Model {model.name!r} is of family {family!r}, which has no {layout} converter: "
                         f"keras_vit.weights.save(layout={layout!r}) writes the families {', '.join(known)}.")
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise ImportError("keras_vit.weights.save writes .safetensors files with the safetensors package: "
                          "pip install safetensors") from None
    tensors, unmapped = {}, []
    for variable in model.weights:
        rule, value = converter.rule(variable.path, model), np.asarray(variable, dtype=np.float32)
        arrays = None if rule is None else invert(rule, value)
        # read forwards again, the tensors must give the variable back (a wrong inverse fails here, not in timm)
        if arrays is None or not np.array_equal(rule.transform(*arrays, value.shape), value):
            note = f" ({rule.note}: no working inverse in protocol.INVERSES)" if rule else ""
            unmapped.append(f"{variable.path} {value.shape}{note}")
        else:
            tensors.update(zip(rule.sources, arrays))
    if unmapped:
        raise ValueError(f"Model {model.name!r} has variables that the {layout} layout has no tensor for: "
                         f"{', '.join(unmapped)}.")
    save_file({key: np.ascontiguousarray(array) for key, array in tensors.items()}, path, {"format": "pt"})
    return path
