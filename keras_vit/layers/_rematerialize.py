"""Block rematerialization: recompute a transformer block's activations in the backward pass instead of keeping them.

`rematerialize=True` on TransformerBlock / TNTBlock (and the ViT and TNT models) trades time for memory while
training (docs/speed.md has the figures). The default is False, as in timm (`set_grad_checkpointing`) and keras-hub.

A block with dropout or stochastic depth active cannot be rematerialized: its random masks come from a stateful
seed, and the recomputation would draw different masks than the forward pass, giving wrong gradients. Such a
combination is refused when the block is made.
"""


def check(value, **rates):
    """Refuses rematerialize=True with any of the block's dropout / stochastic-depth `rates` active (module doc);
    returns `value`. Whether `value` is a bool is checked where specs load (keras_vit.schema)."""
    active = ", ".join(f"{name}={rate}" for name, rate in rates.items() if rate)
    if value and active:
        raise ValueError(
            f"rematerialize=True cannot be combined with random masks ({active}): the backward pass would "
            f"recompute them differently. Set those rates to 0 or rematerialize=False."
        )
    return value
