"""Exact nearest neighbours by chunked brute force, never holding an n x n matrix.

Squared distances of a block of rows to all points come from one matrix product
||a||^2 + ||b||^2 - 2 a.b on centered float64 data; the selected neighbours' distances are then
recomputed from the differences themselves, so reported distances carry no cancellation error.
Memory is O(chunk * n) with chunk = ``max_bytes / (8 n)`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

__all__ = ["DEFAULT_MAX_BYTES", "knn", "squared_distance_blocks"]

#: Bytes one block of squared distances may take (256 MiB).
DEFAULT_MAX_BYTES = 2**28

Progress = Callable[[int, int], None]


def squared_distance_blocks(
    X: torch.Tensor, max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start, D2) with D2[i, j] = ||x_{start+i} - x_j||^2, self-distances set to +inf.

    X : (n, d) float64 tensor, already validated. ``progress(done, n)`` is called per block.
    """
    n = X.shape[0]
    Xc = X - X.mean(dim=0)
    sq = (Xc * Xc).sum(dim=1)
    rows = max(1, min(n, max_bytes // (8 * n)))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        block = Xc[start:stop] @ Xc.T  # in place from here: one (rows, n) buffer per block
        block.mul_(-2.0).add_(sq[None, :]).add_(sq[start:stop, None]).clamp_min_(0.0)
        local = torch.arange(stop - start, device=X.device)
        block[local, local + start] = float("inf")
        yield start, block
        if progress is not None:
            progress(stop, n)


def knn(
    X: torch.Tensor,
    k: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest other points of every point.

    Parameters
    ----------
    X : (n, d) float64 tensor (validated)
    k : int, 1 <= k <= n - 1

    Returns
    -------
    distances : (n, k) float64, ascending, recomputed exactly from differences
    indices : (n, k) int64
    """
    n = X.shape[0]
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must lie in [1, n - 1] = [1, {n - 1}], got {k}")
    distances = torch.empty(n, k, dtype=torch.float64, device=X.device)
    indices = torch.empty(n, k, dtype=torch.int64, device=X.device)
    for start, block in squared_distance_blocks(X, max_bytes, progress):
        _, idx = torch.topk(block, k, dim=1, largest=False, sorted=True)
        stop = start + block.shape[0]
        step = max(1, max_bytes // (8 * k * X.shape[1]))
        for lo in range(start, stop, step):
            hi = min(stop, lo + step)
            rows = idx[lo - start : hi - start]
            exact = (X[lo:hi, None, :] - X[rows]).norm(dim=2)
            exact, order = torch.sort(exact, dim=1)
            distances[lo:hi] = exact
            indices[lo:hi] = torch.gather(rows, 1, order)
    return distances, indices
