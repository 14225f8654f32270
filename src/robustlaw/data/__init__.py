"""Data where the law of robustness applies, and real data measured against it.

- :func:`sample` draws from a registry of isoperimetric laws (:data:`DISTRIBUTIONS`) with
  labels from a registry of label models (:data:`LABEL_MODELS`) that know their noise level
  sigma^2 = E[Var(y | x)].
- :func:`load_dataset` loads scikit-learn's digits, MNIST-1D (generated offline) or user files,
  with the paper's normalization, class selection and label-noise injection.
- :func:`intrinsic_dimension`, :func:`separation` and :func:`probe_isoperimetry` measure the
  geometry the law depends on.
"""

from robustlaw.data.distributions import (
    DISTRIBUTIONS,
    Distribution,
    Draw,
    get_distribution,
    register_distribution,
)
from robustlaw.data.geometry import IntrinsicDimension, Separation, intrinsic_dimension, separation
from robustlaw.data.isoperimetry import IsoperimetryProbe, probe_isoperimetry
from robustlaw.data.labels import (
    LABEL_MODELS,
    LabelModel,
    Labels,
    RandomSign,
    Teacher,
    UserLabels,
    register_label_model,
)
from robustlaw.data.meta import Sample, SampleMeta
from robustlaw.data.real import BUILTIN_DATASETS, load_dataset, normalize_features, save_dataset
from robustlaw.data.sampling import describe, sample

__all__ = [
    "BUILTIN_DATASETS",
    "DISTRIBUTIONS",
    "LABEL_MODELS",
    "Distribution",
    "Draw",
    "IntrinsicDimension",
    "IsoperimetryProbe",
    "LabelModel",
    "Labels",
    "RandomSign",
    "Sample",
    "SampleMeta",
    "Separation",
    "Teacher",
    "UserLabels",
    "describe",
    "get_distribution",
    "intrinsic_dimension",
    "load_dataset",
    "normalize_features",
    "probe_isoperimetry",
    "register_distribution",
    "register_label_model",
    "sample",
    "save_dataset",
    "separation",
]
