"""The component slots inside a transformer block, shared by the blocks that fill them and the families that
validate them: a spec's `attention`, `mlp` and `norm` reach every block through these."""

from keras_vit.registry import Slot

ATTENTION = Slot("attention", "msa", interface="tokens",
                 provided=("hidden_dim", "num_heads", "attention_dropout_rate", "use_qkv_bias"))
MLP = Slot("mlp", "mlp", interface="tokens", provided=("intermediate_dim", "dropout_rate", "use_approximate_gelu"))
NORM = Slot("norm", "layer_norm", interface="tokens", provided=("epsilon",))
