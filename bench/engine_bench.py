"""Benchmark: the piecewise-linear engine's two searches on trained two-layer ReLU nets.

A short, fixed reference for the exact solver and the region search, meant to be run on
two versions of the library and compared row by row (``--against`` reads the JSON of an
earlier run and prints both side by side with their ratios):

- the exact solver on R^d under a node budget (the same tree on every run of the same
  code: the interval must not change, and nodes per second is the throughput), and
  under a time budget in one and two processes; on the ball and the sphere under a time
  budget;
- the region search (lower bounds with witnesses) on R^d, the ball and the sphere: its
  certified value and time.

Networks: two-layer ReLU nets with d = 10, k = 64 trained by full-batch Adam (lr 1e-2,
PyTorch's default initialization, and the NTK initialization of bench/lipschitz_bench.py)
to interpolate random +-1 labels of n = 160 points of the sphere, and one d = 32, k = 256
net on n = 200 points. Every value printed is certified: lower bounds are gradient norms
recomputed in float64 at witness points, upper bounds are proven by the search.

Usage::

    .venv/bin/python bench/engine_bench.py --out before.json
    .venv/bin/python bench/engine_bench.py --out after.json --against before.json
    .venv/bin/python bench/engine_bench.py --parts exact     # or region: one half
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time

import torch
from lipschitz_bench import sphere_data

from robustlaw.lipschitz import Budget, region_search
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer


def trained(d: int, k: int, n: int, seed: int, init: str) -> tuple[TwoLayer, torch.Tensor]:
    """A width-k ReLU net fitted by Adam to n random-label sphere points (MSE < 1e-4)."""
    X, y = sphere_data(n, d, seed)
    fam = TwoLayer(d=d, widths=[k], seeds=[seed % 997], dtype=torch.float64, init=init)
    opt = torch.optim.Adam(fam.parameters(), lr=1e-2)
    for _ in range(30_000):
        loss = ((fam(X)[0] - y) ** 2).mean()
        if float(loss.detach()) < 1e-4:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in fam.parameters():
        p.requires_grad_(False)
    return fam, X


NETS = {
    "d10k64 seed 0": (10, 64, 160, 0, "standard"),
    "d10k64 seed 1": (10, 64, 160, 1, "standard"),
    "d10k64 ntk": (10, 64, 160, 10064, "ntk"),
    "d32k256": (32, 256, 200, 32256, "standard"),
}

#: (net, domain, budget seconds, budget nodes, workers) of the exact solver.
EXACT_RUNS = [
    ("d10k64 seed 0", "rd", 120.0, 3000, 1),
    ("d10k64 ntk", "rd", 120.0, 3000, 1),
    ("d10k64 seed 0", "rd", 20.0, None, 1),
    ("d10k64 seed 1", "rd", 20.0, None, 1),
    ("d10k64 ntk", "rd", 20.0, None, 1),
    ("d10k64 ntk", "rd", 20.0, None, 2),
    ("d10k64 seed 0", "ball", 20.0, None, 1),
    ("d10k64 seed 0", "sphere", 20.0, None, 1),
]
#: (net, domain) of the region search (budget 60 s, it usually ends at local maxima).
REGION_RUNS = [
    ("d10k64 seed 0", "rd"),
    ("d10k64 ntk", "rd"),
    ("d10k64 seed 0", "ball"),
    ("d10k64 seed 0", "sphere"),
    ("d32k256", "rd"),
    ("d32k256", "sphere"),
]


def measure(parts: tuple[str, ...]) -> list[dict]:
    nets = {name: trained(*spec) for name, spec in NETS.items()}
    warm, _ = nets["d10k64 seed 0"]
    exact_lipschitz(warm, budget=Budget(seconds=2.0))  # compiles the kernels once
    rows = []
    for name, domain, seconds, nodes, workers in EXACT_RUNS if "exact" in parts else ():
        fam, _ = nets[name]
        t0 = time.perf_counter()
        res = exact_lipschitz(
            fam, domain=domain, budget=Budget(seconds=seconds, nodes=nodes), workers=workers
        )
        wall = time.perf_counter() - t0
        info = res.info[0]
        label = f"{nodes} nodes" if nodes else f"{seconds:g} s"
        rows.append(
            {
                "what": f"exact {domain} {label} {workers}p",
                "net": name,
                "lower": float(res.lower[0]),
                "upper": float(res.upper[0]),
                "status": res.status[0],
                "nodes": int(info.get("nodes", 0)),
                "seconds": wall,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for name, domain in REGION_RUNS if "region" in parts else ():
        fam, X = nets[name]
        t0 = time.perf_counter()
        res = region_search(fam, domain, Budget(seconds=60.0), X=X)
        wall = time.perf_counter() - t0
        rows.append(
            {
                "what": f"region_search {domain}",
                "net": name,
                "lower": float(res.lower[0]),
                "upper": math.inf,
                "status": res.status[0],
                "nodes": int(res.info[0].get("lps", 0)),
                "seconds": wall,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], before: list[dict] | None) -> None:
    old = {(r["what"], r["net"]): r for r in before or []}
    print(
        "| run | net | lower | upper | nodes (LPs) | s | nodes/s | "
        "before: lower | upper | nodes/s | s | after/before s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["nodes"] / r["seconds"] if r["what"].startswith("exact") else math.nan
        cells = [r["what"], r["net"], f"{r['lower']:.6g}", f"{r['upper']:.6g}", str(r["nodes"])]
        cells += [f"{r['seconds']:.2f}", f"{rate:.0f}"]
        b = old.get((r["what"], r["net"]))
        if b is not None:
            b_rate = b["nodes"] / b["seconds"] if r["what"].startswith("exact") else math.nan
            cells += [f"{b['lower']:.6g}", f"{b['upper']:.6g}", f"{b_rate:.0f}"]
            cells += [f"{b['seconds']:.2f}", f"{r['seconds'] / b['seconds']:.2f}"]
        else:
            cells += ["—"] * 5
        print("| " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--against", help="JSON of an earlier run, printed side by side")
    parser.add_argument(
        "--parts", default="exact,region", help="comma-separated: exact, region (default both)"
    )
    args = parser.parse_args(argv)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "")
    print(f"# engine bench on {model or platform.processor()}, torch {torch.__version__}\n")
    rows = measure(tuple(args.parts.split(",")))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    before = None
    if args.against:
        with open(args.against) as fh:
            before = json.load(fh)
    table(rows, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
