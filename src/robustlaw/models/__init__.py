"""Families of networks held in one set of tensors, their activations, and constructions."""

from robustlaw.models import constructions as constructions  # explicit interpolants
from robustlaw.models.activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    polynomial_activation,
)
from robustlaw.models.features import FeatureFamily, NTKFeatureNet, NTKFeatures, RandomFeatures
from robustlaw.models.mlp import MLP, MLP_INITS, ResidualMLPNet
from robustlaw.models.two_layer import INITS, TwoLayer, TwoLayerWeights

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "MLP",
    "MLP_INITS",
    "Activation",
    "FeatureFamily",
    "NTKFeatureNet",
    "NTKFeatures",
    "RandomFeatures",
    "ResidualMLPNet",
    "TwoLayer",
    "TwoLayerWeights",
    "get_activation",
    "polynomial_activation",
]
