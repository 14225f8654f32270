"""Small sphere data sets for the fitting tests."""

from __future__ import annotations

import torch


def sphere_data(n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64):
    """n points uniform on S^{d-1} and random +-1 labels (normalized Gaussian rows)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=dtype, generator=gen)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.sign(torch.randn(n, dtype=dtype, generator=gen))
    return X, y
