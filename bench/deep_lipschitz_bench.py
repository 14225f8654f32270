"""Certified intervals of deep relu MLPs: every method's value, ratio to the best lower
bound, and time, side by side in one run.

Nets: depth 3 and 4 (2 and 3 hidden layers), widths 16-64, d in {2, 10}, trained on 200
Gaussian points with random +-1 labels by plain Adam (PyTorch's default init, lr 3e-3,
2000 steps), by SGD (lr 1e-2, momentum 0.9, 2000 steps), or by the project's ``fit``
(Adam to interpolation, MLP family); seeds fixed below before any result was seen.
Each net goes through ``estimate(methods=("lower", "upper"[, "exact"]))`` with one
budget per method; the table prints each method's certified value (L: lower, U: upper,
E: exact) with its ratio to the best lower bound and its seconds, then the interval.

    python bench/deep_lipschitz_bench.py            # the full grid (long)
    python bench/deep_lipschitz_bench.py --quick    # four nets, one per goal

Run alone (``/work/bin/heavy``) for timings; print the CPU model next to them.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

import robustlaw.lipschitz as L

SEEDS = (0, 1, 2)
GRID = [(3, w, d) for w in (16, 32) for d in (2, 10)] + [(4, 64, 10), (4, 32, 10)]
QUICK = [("adam", 3, 32, 10, 0), ("sgd", 3, 32, 10, 1), ("adam", 4, 64, 10, 0),
         ("adam", 3, 16, 2, 0)]  # fmt: skip


def data(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    X = torch.randn(200, d, generator=g)
    y = torch.randint(0, 2, (200,), generator=g).float() * 2 - 1
    return X, y


def train(how: str, depth: int, width: int, d: int, seed: int) -> tuple[nn.Module, torch.Tensor]:
    X, y = data(d, seed)
    if how == "fit":
        from robustlaw.fitting import fit
        from robustlaw.fitting.targets import Interpolate
        from robustlaw.models import MLP

        fam = MLP(d=d, hidden=[width] * (depth - 1), activation="relu", seeds=[seed])
        fam, _ = fit(fam, X.double(), y.double(), Interpolate(tol=1e-4), steps=2000)
        return fam.member_module(0), X
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    prev = d
    for _ in range(depth - 1):
        layers += [nn.Linear(prev, width), nn.ReLU()]
        prev = width
    net = nn.Sequential(*layers, nn.Linear(prev, 1))
    opt = (
        torch.optim.Adam(net.parameters(), lr=3e-3)
        if how == "adam"
        else torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    )
    for _ in range(2000):
        opt.zero_grad()
        loss = ((net(X)[:, 0] - y) ** 2).mean()
        loss.backward()
        opt.step()
    return net, X


def run(how: str, depth: int, width: int, d: int, seed: int, seconds: float) -> None:
    net, X = train(how, depth, width, d, seed)
    methods = ["lower", "upper"] + (["deep_exact"] if d <= 2 else [])
    if depth * width <= 160:
        methods.append("lipsdp")  # cvxpy's LipSDP side by side where it is affordable
    t0 = time.perf_counter()
    rep = L.estimate(net.double(), methods=methods, budget=L.Budget(seconds=seconds), X=X)
    total = time.perf_counter() - t0
    best = float(rep.lower[0])
    name = f"{how} depth {depth} width {width} d {d} seed {seed}"
    print(f"\n## {name}: interval [{best:.5g}, {rep.upper[0]:.5g}] ratio {rep.ratio[0]:.4f}"
          f" in {total:.1f} s ({rep.lower_method[0]} / {rep.upper_method[0]})")  # fmt: skip
    print(f"{'method':<20} {'kind':<5} {'value':>10} {'/best L':>8} {'s':>7}  status")
    for m, res in rep.results.items():
        if res.status[0].startswith("not_applicable"):
            continue
        value = res.lower[0] if res.kind == "lower" else res.upper[0]
        tag = {"lower": "L", "upper": "U", "exact": "E"}[res.kind]
        ratio = value / best if best > 0 else float("nan")
        print(f"{m:<20} {tag:<5} {value:>10.5g} {ratio:>8.4f} {res.seconds[0]:>7.2f}  "
              f"{res.status[0][:40]}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="four nets, one per goal")
    ap.add_argument("--seconds", type=float, default=20.0, help="budget per method")
    args = ap.parse_args()
    print(f"# deep Lipschitz bench ({platform.processor() or platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, {args.seconds:g} s per method)")  # fmt: skip
    cases = QUICK if args.quick else [
        (how, depth, w, d, s) for how in ("adam", "sgd", "fit") for depth, w, d in GRID
        for s in SEEDS
    ]  # fmt: skip
    for case in cases:
        run(*case, seconds=args.seconds)


if __name__ == "__main__":
    main()
