"""Benchmarks for robustlaw.data: sampling, intrinsic dimension, separation, isoperimetry probe.

Run: .venv/bin/python bench/data_bench.py [--quick]

Prints tables; targets (not tests): sampling 10^6 x 100 in under 2 s; intrinsic dimension of
10^4 points in d = 100 in under 10 s. Times are wall-clock on whatever else the machine runs
(the load average is printed); ratios against scikit-dimension are measured side by side.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import robustlaw.data as rd

console = Console()


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time over ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_sampling(n: int, d: int) -> None:
    table = Table(title=f"sampling {n:,} x {d} (target < 2 s), labels=None, best of 2")
    for column in ("distribution", "dtype", "seconds", "points / s", "mean ||x||^2"):
        table.add_column(column, justify="right" if column != "distribution" else "left")
    cases = [
        ("gaussian", {}, torch.float32),
        ("gaussian", {}, torch.float64),
        ("sphere", {}, torch.float32),
        ("ball", {}, torch.float32),
        ("hypercube", {}, torch.float32),
        ("gaussian_mixture", {"components": 4}, torch.float32),
        ("perturbed", {}, torch.float32),
        ("subspace", {"m": 10}, torch.float32),
        ("embedded_sphere", {"m": 10}, torch.float32),
        ("curved_manifold", {"m": 10}, torch.float32),
    ]
    for name, params, dtype in cases:
        seconds, sample = timed(
            lambda name=name, params=params, dtype=dtype: rd.sample(
                name, n=n, d=d, seed=0, labels=None, dtype=dtype, **params
            ),
            repeat=2,
        )
        mean_sq = float(sample.X.pow(2).sum(dim=1).mean())
        del sample
        table.add_row(
            name,
            str(dtype).removeprefix("torch."),
            f"{seconds:.3f}",
            f"{n / seconds:.3g}",
            f"{mean_sq:.4f}",
        )
    seconds, _ = timed(lambda: rd.sample("sphere", n=n, d=d, seed=0), repeat=2)
    table.add_row("sphere + random_sign", "float32", f"{seconds:.3f}", f"{n / seconds:.3g}", "")
    console.print(table)


def bench_intrinsic(n: int, d: int) -> None:
    try:
        import skdim
    except ImportError:
        skdim = None
    m = 10
    X, _, meta = rd.sample("curved_manifold", n=n, d=d, seed=0, m=m, labels=None, dtype="float64")
    data = X.numpy()
    table = Table(
        title=f"intrinsic dimension, curved_manifold m = {m} in d = {d}, n = {n:,} "
        "(target < 10 s); estimates, not certified"
    )
    for column in (
        "method",
        "robustlaw s",
        "estimate",
        "95% CI",
        "skdim s",
        "skdim estimate",
        "skdim / robustlaw",
    ):
        table.add_column(column, justify="right" if column != "method" else "left")
    rows = [
        (
            "TwoNN (MLE)",
            lambda: rd.intrinsic_dimension(X),
            (lambda: skdim.id.TwoNN(method="mle", discard_fraction=0.0).fit(data).dimension_),
        ),
        (
            "TwoNN (regression, 10% discarded)",
            lambda: rd.intrinsic_dimension(X, estimator="linear"),
            (lambda: skdim.id.TwoNN().fit(data).dimension_),
        ),
        (
            "MLE Levina-Bickel, k = 20",
            lambda: rd.intrinsic_dimension(X, method="mle"),
            (lambda: skdim.id.MLE(K=20).fit(data, n_neighbors=20, comb="mle").dimension_),
        ),
    ]
    for label, ours, theirs in rows:
        seconds, result = timed(ours)
        ci = "—" if result.ci_low is None else f"[{result.ci_low:.2f}, {result.ci_high:.2f}]"
        if skdim is None:
            other, value, ratio = "—", "—", "—"
        else:
            other_s, other_value = timed(theirs)
            other, value, ratio = (
                f"{other_s:.2f}",
                f"{other_value:.3f}",
                f"{other_s / seconds:.1f}x",
            )
        table.add_row(label, f"{seconds:.2f}", f"{result.estimate:.3f}", ci, other, value, ratio)
    console.print(table)
    console.print(f"true intrinsic dimension: {meta.intrinsic_dim}")


def bench_separation(cases: list[tuple[int, int]]) -> None:
    table = Table(title="separation (exact, chunked: one block <= 256 MiB, never n x n)")
    for column in (
        "n",
        "d",
        "seconds",
        "min distance",
        "median NN distance",
        "n x n matrix would take",
        "interpolant Lip (exact)",
    ):
        table.add_column(column, justify="right")
    for n, d in cases:
        X, y, _ = rd.sample("gaussian", n=n, d=d, seed=0, dtype="float64")
        seconds, result = timed(lambda X=X, y=y: rd.separation(X, y))
        table.add_row(
            f"{n:,}",
            str(d),
            f"{seconds:.2f}",
            f"{result.min_distance:.4f}",
            f"{result.nn_quantiles['0.5']:.4f}",
            f"{8 * n * n / 2**30:.1f} GiB",
            f"{result.interpolation_lipschitz:.2f}",
        )
    console.print(table)


def bench_probe(n: int, d: int) -> None:
    table = Table(title=f"isoperimetry probe, n = {n:,}, d = {d}: lower bounds at 95%")
    for column in (
        "law",
        "seconds",
        "nominal c (proven)",
        "c lower bound",
        "plug-in (no bound)",
        "witness",
    ):
        table.add_column(column, justify="right" if column != "witness" else "left")
    for name, params in (
        ("hypercube", {}),
        ("gaussian", {}),
        ("sphere", {}),
        ("gaussian_mixture", {}),
    ):
        X, _, meta = rd.sample(name, n=n, d=d, seed=0, labels=None, dtype="float64", **params)
        seconds, probe = timed(lambda X=X: rd.probe_isoperimetry(X))
        table.add_row(
            name,
            f"{seconds:.2f}",
            f"{meta.isoperimetry_c_ambient:.3f}"
            + (" (per component)" if meta.components > 1 else ""),
            f"{probe.c_lower:.3f}",
            f"{probe.c_plugin:.3f}",
            probe.witness["description"],
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (a smoke run).")
    parser.add_argument(
        "--large", action="store_true", help="Add separation of 10^5 points (minutes)."
    )
    args = parser.parse_args()
    load = os.getloadavg()
    console.print(
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: "
        "timings on a shared machine are noisy"
    )
    scale = 10 if args.quick else 1
    bench_sampling(10**6 // scale, 100)
    bench_intrinsic(10**4 // scale, 100)
    cases = [(10**4 // scale, 100), (3 * 10**4 // scale, 10)]
    bench_separation([*cases, (10**5, 10)] if args.large else cases)
    bench_probe(10**4 // scale, 100)


if __name__ == "__main__":
    main()
