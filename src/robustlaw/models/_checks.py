"""Argument checks shared by the family constructors (ValueError naming the argument)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["check_dtype", "check_seeds", "check_widths", "member_index", "positive_int"]


def positive_int(name: str, value: object) -> int:
    """``value`` as an int, or ValueError when it is not a positive integer (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_widths(widths: Sequence[object]) -> list[int]:
    """A non-empty list of positive widths."""
    widths = list(widths)
    if not widths:
        raise ValueError("widths must hold at least one width, got an empty list")
    return [positive_int(f"widths[{i}]", width) for i, width in enumerate(widths)]


def check_seeds(seeds: Sequence[object]) -> list[int]:
    """A non-empty list of non-negative integer seeds (as given: numpy integers stay)."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got an empty list")
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seeds[{i}] must be a non-negative integer, got {seed!r}")
    return seeds


def check_dtype(dtype: object) -> None:
    """float32 or float64, the dtypes families hold."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


def member_index(
    indices: Sequence[int] | torch.Tensor, B: int, device: torch.device
) -> torch.Tensor:
    """Member indices as a long tensor on ``device``: non-empty, each in [0, B).

    Parameters
    ----------
    indices : sequence of int or Tensor, shape (m,)
    B : int
        Members in the family.
    device : torch.device
        Where the family's tensors live.
    """
    idx = torch.as_tensor(
        list(indices) if not isinstance(indices, torch.Tensor) else indices, dtype=torch.long
    )
    if idx.ndim != 1 or idx.numel() == 0:
        raise ValueError("indices must be a non-empty list of member indices")
    if (idx < 0).any() or (idx >= B).any():
        raise ValueError(f"indices must lie in [0, {B}), got {idx.tolist()}")
    return idx.to(device)
