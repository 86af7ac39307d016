"""Block rematerialization: recompute a transformer block's activations in the backward pass instead of keeping them.

`rematerialize=True` on TransformerBlock / TNTBlock (and the ViT and TNT models) trades time for memory while
training. Measured on the project's 2-core CPU (ViT-Ti/16, batch 32, AdamW, `model.fit` under the XLA default,
`python -m benchmarks peers`, 5 interleaved rounds, two runs): peak RSS 2,043 vs 3,254 MB and 2,303 vs 3,521 MB (-35 to
-37%), step time 2.47 vs 1.99 s (+24%) and 2.60 vs 2.61 s (no difference). Without XLA, TensorFlow's recomputation cost about 2x (5.2 s vs 2.4 s per step).
The default is False, as in timm (`set_grad_checkpointing`) and keras-hub.

A block with dropout or stochastic depth active cannot be rematerialized: its random masks come from a stateful
seed, and the recomputation would draw different masks than the forward pass, giving wrong gradients. Such a
combination is refused when the block is made.
"""

from __future__ import annotations

import keras


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


def call(function, *tensors):
    """Calls `function(*tensors)` with its intermediate activations recomputed during the backward pass."""
    return keras.remat(function)(*tensors)
