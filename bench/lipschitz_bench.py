"""Lipschitz bounds side by side on random and trained two-layer ReLU networks.

For every network of the grid (d in {2, 10, 32, 100}, k in {16, 64, 256, 1024}; random
(PyTorch's default initialization) and trained (NTK initialization, then plain full-batch
Adam, lr 1e-2, until the MSE on n = min(200, k d / 4) random +-1 labels of points of the
sphere is below 1e-4; n = min(16, k / 8) for d = 2) this prints, in one run:

- the reference value: the exact Lipschitz constant on R^d when the exact solver proves
  it, else the best certified lower
  bound found by any method (marked "lower");
- certified upper bounds as ratios to the reference, with times: the spectral product,
  the path norm, the averaged ReLU bound, pattern enumeration (k <= 20), the fast
  pattern SDP (LipSDP's value, first-order, milliseconds) and LipSDP-Neuron through cvxpy
  (SCS, with a time limit, k <= 256; "—" beyond);
- certified lower bounds as ratios to the reference: the usual max gradient norm over the
  data and 10^4 random points, softplus-surrogate ascent, region search, and the best.

Every number is certified (upper: by the named bound; lower: by a witness recomputed in
float64) except where a cell says otherwise. Timings are wall-clock on a shared machine
and noisy. Results are also written as JSON (``--out``, default
robustlaw-results/lipschitz_bench.json) as each network finishes.

Usage: python bench/lipschitz_bench.py [--quick] [--d D ...] [--k K ...] [--out FILE]
       [--lipsdp-seconds S] [--search-seconds S] [--exact-seconds S]
       [--exact-workers N] [--no-lipsdp] [--no-exact]

The exact solver gets 60 s and 2 processes per network by default (the machine's two
cores).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import robustlaw.lipschitz as L
from robustlaw.lipschitz import Budget
from robustlaw.models import TwoLayer

GRID_D = (2, 10, 32, 100)
GRID_K = (16, 64, 256, 1024)
QUICK_D = (2, 10)
QUICK_K = (16, 64)


def sphere_data(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    return X, y


def train(fam: TwoLayer, X: torch.Tensor, y: torch.Tensor, max_steps: int = 30_000):
    """Plain full-batch Adam on the MSE until it is below 1e-4 (or the step cap)."""
    opt = torch.optim.Adam(fam.parameters(), lr=1e-2)
    mse = math.inf
    step = 0
    for step in range(1, max_steps + 1):  # noqa: B007 - reported below
        loss = ((fam(X) - y) ** 2).mean()
        mse = float(loss.detach())
        if mse < 1e-4:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return fam, mse, step


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def run_net(d: int, k: int, trained: bool, args) -> dict:
    seed = 1000 * d + k
    # Enough points to need k units, few enough that plain Adam interpolates them (on the
    # circle, d = 2, random labels of more than ~16 points are out of its reach).
    n = min(16, max(4, k // 8)) if d == 2 else min(200, max(4, k * d // 4))
    X, y = sphere_data(n, d, seed)
    init = "ntk" if trained else "standard"
    fam = TwoLayer(d=d, widths=[k], seeds=[seed % 997], dtype=torch.float64, init=init)
    row: dict = {"d": d, "k": k, "net": "trained" if trained else "random", "n": n}
    if trained:
        fam, mse, steps = train(fam, X, y)
        row.update(train_mse=mse, train_steps=steps)
    for p in fam.parameters():
        p.requires_grad_(False)
    results: dict[str, tuple[L.MethodResult, float]] = {}
    search = Budget(seconds=args.search_seconds)
    # lower bounds
    results["grad_data"] = timed(L.data_lower_bound, fam, "rd", search, X=X)
    results["grad_random"] = timed(L.random_lower_bound, fam, "rd", search, n_points=10_000, X=X)
    results["ascent"] = timed(L.ascent_lower_bound, fam, "rd", search, X=X)
    starts = np.array(
        [r.witnesses[0].x for r, _ in results.values() if r.witnesses and r.witnesses[0]]
    )
    results["region_search"] = timed(L.region_search, fam, "rd", search, X=X, starts=starts)
    # upper bounds
    for name, fn in (
        ("spectral", L.spectral_bound),
        ("path_norm", L.path_norm_bound),
        ("averaged", L.averaged_bound),
        ("pattern_enum", L.pattern_enum_bound),
        ("pattern_sdp", L.pattern_sdp_bound),
    ):
        results[name] = timed(fn, fam, "rd", Budget(seconds=300))
    if k <= 256 and not args.no_lipsdp:
        results["lipsdp"] = timed(
            L.lipsdp_bound, fam, "rd", Budget(seconds=args.lipsdp_seconds), solver="SCS"
        )
    if not args.no_exact:
        best = max(results.values(), key=lambda item: item[0].lower[0])[0]
        results["exact"] = timed(
            L.METHODS["exact"].fn,
            fam,
            "rd",
            Budget(seconds=args.exact_seconds),
            lower_hint=best,
            workers=args.exact_workers,
        )
    lower = max(r.lower[0] for r, _ in results.values())
    upper = min(r.upper[0] for r, _ in results.values())
    exact = results.get("exact")
    proven = exact is not None and bool(exact[0].proven[0])
    ref = float(exact[0].upper[0]) if proven else float(lower)
    row.update(reference=ref, reference_kind="exact" if proven else "lower")
    row.update(best_lower=float(lower), best_upper=float(upper))
    for name, (res, secs) in results.items():
        row[name] = {
            "lower": float(res.lower[0]),
            "upper": float(res.upper[0]),
            "seconds": secs,
            "status": res.status[0],
        }
    data_rand = max(row["grad_data"]["lower"], row["grad_random"]["lower"])
    row["data_random"] = data_rand
    return row


def ratio(value: float, ref: float) -> str:
    if value is None or not math.isfinite(value) or ref <= 0:
        return "—"
    return f"{value / ref:.3f}"


def secs(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.0f} ms"
    return f"{value:.1f} s"


def upper_cell(row: dict, name: str) -> str:
    entry = row.get(name)
    if entry is None:
        return "—"
    if not math.isfinite(entry["upper"]):
        status = entry["status"].split(":")[0]
        return f"— ({status})"
    return f"{ratio(entry['upper'], row['reference'])} ({secs(entry['seconds'])})"


def lower_cell(row: dict, name: str) -> str:
    entry = row.get(name)
    if entry is None:
        return "—"
    return f"{ratio(entry['lower'], row['reference'])} ({secs(entry['seconds'])})"


def header(row: dict) -> str:
    ref = f"{row['reference']:.4g} ({row['reference_kind']})"
    net = f"{row['net']} d={row['d']} k={row['k']}"
    if row["net"] == "trained":
        net += f" (n={row['n']}, mse {row['train_mse']:.0e})"
    return f"| {net} | {ref} |"


def print_tables(rows: list[dict]) -> None:
    print("\n### Certified upper bounds (ratio to the reference, time)\n")
    print(
        "| network | reference | spectral | path norm | averaged | pattern enum | "
        "pattern SDP (fast) | LipSDP (cvxpy, SCS) | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        sdp, lip = row["pattern_sdp"], row.get("lipsdp")
        speed = "—"
        if lip is not None and math.isfinite(lip["upper"]):
            speed = f"{lip['seconds'] / max(sdp['seconds'], 1e-9):.0f}×"
        cells = [
            upper_cell(row, n)
            for n in ("spectral", "path_norm", "averaged", "pattern_enum", "pattern_sdp", "lipsdp")
        ]
        print(header(row), " | ".join(cells), "|", speed, "|")
    print("\n### Certified lower bounds (ratio to the reference, time)\n")
    print(
        "| network | reference | data + 10^4 random | softplus ascent | region search | "
        "best lower | exact solver | certified upper / lower |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        ex = row.get("exact")
        if ex is None:
            ex_cell = "—"
        elif row["reference_kind"] == "exact":
            ex_cell = f"exact ({secs(ex['seconds'])})"
        else:
            ex_cell = f"[{ex['lower']:.4g}, {ex['upper']:.4g}] ({secs(ex['seconds'])})"
        cells = [
            ratio(row["data_random"], row["reference"]),
            lower_cell(row, "ascent"),
            lower_cell(row, "region_search"),
            ratio(row["best_lower"], row["reference"]),
            ex_cell,
            f"{row['best_upper'] / row['best_lower']:.3f}",
        ]
        print(header(row), " | ".join(cells), "|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d in {2, 10}, k in {16, 64}")
    parser.add_argument(
        "--out", type=Path, default=Path("robustlaw-results") / "lipschitz_bench.json"
    )
    parser.add_argument("--lipsdp-seconds", type=float, default=60.0)
    parser.add_argument("--search-seconds", type=float, default=20.0)
    parser.add_argument("--exact-seconds", type=float, default=60.0)
    parser.add_argument(
        "--exact-workers", type=int, default=2, help="processes of the exact solver"
    )
    parser.add_argument("--d", type=int, nargs="*", help="override the grid's dimensions")
    parser.add_argument("--k", type=int, nargs="*", help="override the grid's widths")
    parser.add_argument("--no-lipsdp", action="store_true")
    parser.add_argument("--no-exact", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small problems; oversubscribed cores only slow them down
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid_d, grid_k = (QUICK_D, QUICK_K) if args.quick else (GRID_D, GRID_K)
    grid_d, grid_k = tuple(args.d or grid_d), tuple(args.k or grid_k)
    print(f"# Lipschitz bench: d in {grid_d}, k in {grid_k}")
    print("# Timings are wall-clock on a shared machine (noisy); ratios are to the reference.")
    rows: list[dict] = []
    for d in grid_d:
        for k in grid_k:
            for trained in (False, True):
                start = time.perf_counter()
                row = run_net(d, k, trained, args)
                rows.append(row)
                args.out.write_text(json.dumps(rows, indent=1))
                print(
                    f"done {row['net']:>7} d={d:<3} k={k:<4} ref={row['reference']:.5g} "
                    f"({row['reference_kind']}) lower={row['best_lower']:.5g} "
                    f"upper={row['best_upper']:.5g} in {time.perf_counter() - start:.1f} s",
                    flush=True,
                )
    print_tables(rows)


if __name__ == "__main__":
    main()
