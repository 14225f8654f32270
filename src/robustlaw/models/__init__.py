"""Families of networks held in one set of tensors, their activations, and constructions."""

from robustlaw.models.activations import ACTIVATIONS, Activation, get_activation
from robustlaw.models.two_layer import INITS, TwoLayer, TwoLayerWeights

__all__ = ["ACTIVATIONS", "INITS", "Activation", "TwoLayer", "TwoLayerWeights", "get_activation"]
