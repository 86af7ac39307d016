"""keras_vit's own files, `.weights.h5` (written by `keras-vit convert`) and `.keras` (a zoo model saved by
`model.save`, `keras-vit train`'s model.keras and checkpoints/epoch_NNN.keras): tensors already keyed by Keras
variable path, so every rule is the identity. Both store the model's config, so the reader rebuilds that model and
its published layout says which tensors are the head, the pre-logits layer and the position tables. Loading one into a
model of another image size resamples the position tables; into another number of classes drops the head."""

from keras_vit.weights.protocol import Converter, Rule


class KerasFile(Converter):
    format = "keras_vit"
    output_axis = -1
    description = "keras_vit .weights.h5 / .keras (Keras variable paths)"

    def __init__(self, family, layout):
        # the rebuilt model's layout names its head (kernel first) and pre-logits variables
        self.families, self.layout = (family,), layout
        self.head, self.pre_logits = layout.head_variables, layout.pre_logits_variables

    def claims(self, keys):
        return False  # chosen from the file's metadata, never guessed from keys

    def rule(self, path, model):
        return Rule((path,))

    def position_keys(self, tensors):
        return {path: t.num_prefix_tokens for t in self.layout.position_tables for path, _ in t.variables if path in tensors}
