"""GELU whose backward pass keeps only its input.

Differentiated automatically, `keras.activations.gelu` leaves the backward pass its intermediate products (under
XLA the erfc term alone is a tensor twice the size of the MLP's hidden activations), so a ViT training step keeps
three or four hidden-sized tensors per block for the GELU. Here the gradient is written out and recomputed from the
input, as PyTorch's GELU does; docs/speed.md has the memory measured.
"""

import math

from keras import ops

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715


def _exact(x):
    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        # d/dx x * Phi(x) = Phi(x) + x * phi(x), recomputed from x. Phi is written with erf(-x) so that XLA's common
        # subexpression elimination cannot reuse (and so keep alive) the forward pass's erf(x).
        cdf_again = 0.5 * (1.0 - ops.erf(-x * _SQRT_HALF))
        pdf = _INV_SQRT_2PI * ops.exp(-0.5 * x * x)
        return upstream * (cdf_again + x * pdf)

    # Written as LiteRT's converter recognises GELU (x * 0.5 * (erf(x / sqrt 2) + 1)): it has no Erf op of its own.
    return (x * 0.5) * (ops.erf(x * _SQRT_HALF) + 1.0), grad


def _approximate(x):
    def tanh_term(v):
        return ops.tanh(_SQRT_2_OVER_PI * (v + _TANH_CUBIC * v * v * v))

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        t = -tanh_term(-x)  # tanh is odd; the negation keeps XLA from reusing the forward pass's tanh
        slope = _SQRT_2_OVER_PI * (1.0 + 3.0 * _TANH_CUBIC * x * x)
        return upstream * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope)

    return 0.5 * x * (1.0 + tanh_term(x)), grad


_exact_gelu = ops.custom_gradient(_exact)
_approximate_gelu = ops.custom_gradient(_approximate)


def gelu(x, approximate=False):
    """GELU of a tensor of any shape: x * Phi(x), or its tanh approximation; same shape and dtype as `x`."""
    return _approximate_gelu(x) if approximate else _exact_gelu(x)
