"""Intra-op threads for the small tensor work of the engine and its callers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["threads_for"]


@contextmanager
def threads_for(elements: int) -> Iterator[None]:
    """Run small tensor work on one thread (restored afterwards).

    Intra-op parallelism on tensors of a few thousand entries costs far more in thread
    wake-ups than it saves, and on a loaded machine it can slow small batched matrix
    products down a hundredfold; the methods' inner loops work on such tensors.
    """
    before = torch.get_num_threads()
    small = elements < 2**26
    if small and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small and before > 1:
            torch.set_num_threads(before)
