"""GELU whose backward pass keeps one tensor: its derivative.

Differentiated automatically, `keras.activations.gelu` leaves the backward pass its intermediate products (under
XLA the erfc term alone is a tensor twice the size of the MLP's hidden activations), so a ViT training step keeps
three or four hidden-sized tensors per block for the GELU. While training, this GELU computes its derivative in the
forward pass and hands autodiff only that (docs/speed.md).

It is written without `tf.custom_gradient` on purpose: in a graph (every Keras functional model's construction and
every `tf.function` trace) TensorFlow 2.21 registers each custom gradient in a process-wide registry that is never
emptied, and the registered function holds its graph, which holds the model's variables: a model built with a
custom-gradient GELU would never be freed.
"""

import math

from keras import ops

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715


def _exact(x):
    # Written as LiteRT's converter recognises GELU (x * 0.5 * (erf(x / sqrt 2) + 1)): it has no Erf op of its own.
    return (x * 0.5) * (ops.erf(x * _SQRT_HALF) + 1.0)


def _exact_slope(x):
    return 0.5 * (ops.erf(x * _SQRT_HALF) + 1.0) + x * (_INV_SQRT_2PI * ops.exp(-0.5 * x * x))


def _tanh_term(x):
    return ops.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x * x * x))


def _approximate(x):
    return 0.5 * x * (1.0 + _tanh_term(x))


def _approximate_slope(x):
    t = _tanh_term(x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * (_SQRT_2_OVER_PI * (1.0 + 3.0 * _TANH_CUBIC * x * x))


def gelu(x, approximate=False, training=False):
    """GELU of a tensor of any shape: x * Phi(x), or its tanh approximation; same shape and dtype as `x`.

    With `training`, the value is the same but its gradient comes from GELU'(x) computed in the forward pass, held
    constant: y = stop(GELU(x)) + (x * s - stop(x * s)) with s = stop(GELU'(x)), whose second term (a product minus
    itself) is 0 and whose derivative is s. The backward pass then keeps s alone.
    """
    forward, slope = (_approximate, _approximate_slope) if approximate else (_exact, _exact_slope)
    if not training:
        return forward(x)
    s = ops.stop_gradient(slope(x))
    linear = x * s
    return ops.stop_gradient(forward(x)) + (linear - ops.stop_gradient(linear))
