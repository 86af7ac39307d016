"""Shared checks for keras_vit's tests and for plugin authors testing their own layers and models."""

from keras_vit.testing.layer_check import check_layer
from keras_vit.testing.round_trip import assert_keras_round_trip

__all__ = ["assert_keras_round_trip", "check_layer"]
