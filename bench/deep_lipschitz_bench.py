"""Certified intervals of deep relu MLPs: every method's value, ratio to the best lower
bound, and time, side by side in one run.

Nets: depth 3 and 4 (2 and 3 hidden layers), widths 16-64, d in {2, 10}, trained on 200
Gaussian points with random +-1 labels by plain Adam (PyTorch's default init, lr 3e-3,
2000 steps), by SGD (lr 1e-2, momentum 0.9, 2000 steps), or by the project's ``fit``
(Adam to interpolation, MLP family); seeds fixed below before any result was seen.
Each net goes through ``estimate(methods=("lower", "upper"[, "deep_exact"]))`` with one
budget for the whole call (its goal's: 10 s for d = 2, 60 s for depth 3, 120 s for
depth 4); the table prints each method's certified value (L: lower, U: upper,
E: exact) with its ratio to the best lower bound and its seconds, then the interval.

    python bench/deep_lipschitz_bench.py            # the full grid (long)
    python bench/deep_lipschitz_bench.py --quick    # four nets, one per goal
    python bench/deep_lipschitz_bench.py --goals    # those and three more nets of the grid

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
#: --goals: the quick nets and three more of the grid (fixed before any result was seen).
GOAL_CASES = [*QUICK, ("adam", 3, 16, 10, 1), ("sgd", 3, 16, 2, 1), ("adam", 3, 16, 2, 2)]


def goal(depth: int, width: int, d: int) -> tuple[float, float] | None:
    """(whole-call seconds, ratio) of the goal a net falls under, or None."""
    if d <= 2 and width <= 16 and depth == 3:
        return 10.0, 1.0 + 1e-6
    if d == 10 and depth == 3 and width <= 32:
        return 60.0, 1.1
    if d == 10 and depth == 4 and width == 64:
        return 120.0, 1.3
    return None


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


def run(how: str, depth: int, width: int, d: int, seed: int, seconds: float | None) -> None:
    net, X = train(how, depth, width, d, seed)
    target = goal(depth, width, d)
    if seconds is None:  # the goal's whole-call budget
        seconds = target[0] if target else 60.0
    methods = ["lower", "upper"] + (["deep_exact"] if d <= 2 else [])
    if depth * width <= 160:
        methods.append("lipsdp")  # cvxpy's LipSDP side by side where it is affordable
    t0 = time.perf_counter()
    rep = L.estimate(net.double(), methods=methods, budget=L.Budget(seconds=seconds), X=X)
    total = time.perf_counter() - t0
    best = float(rep.lower[0])
    name = f"{how} depth {depth} width {width} d {d} seed {seed}"
    met = target is not None and rep.ratio[0] <= target[1] and total <= target[0] * 1.05
    verdict = "" if target is None else f"; goal {target[1]:.6g} in {target[0]:g} s: "
    verdict += "" if target is None else ("met" if met else "NOT met")
    print(f"\n## {name}: interval [{best:.5g}, {rep.upper[0]:.5g}] ratio {rep.ratio[0]:.4f}"
          f" in {total:.1f} s of {seconds:g} s ({rep.lower_method[0]} / {rep.upper_method[0]})"
          + verdict)  # fmt: skip
    print(f"{'method':<20} {'kind':<5} {'value':>10} {'/best L':>8} {'s':>7}  status")
    for m, res in rep.results.items():
        if res.status[0].startswith("not_applicable"):
            continue
        value = res.lower[0] if res.kind == "lower" else res.upper[0]
        tag = {"lower": "L", "upper": "U", "exact": "E"}[res.kind]
        ratio = value / best if best > 0 else float("nan")
        print(f"{m:<20} {tag:<5} {value:>10.5g} {ratio:>8.4f} {res.seconds[0]:>7.2f}  "
              f"{res.status[0][:40]}")  # fmt: skip
    bnb = rep.results.get("deep_bnb")
    if bnb is not None and "nodes" in bnb.info[0]:
        i = bnb.info[0]
        print(f"deep_bnb: {i['nodes']} nodes, {i['leaves']} leaves, {i['forced']} forced units, "
              f"{i['empty']} empty, {i['open']} open; root {i['root_bound']:.5g}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="four nets, one per goal")
    ap.add_argument("--goals", action="store_true", help="the quick nets and three more")
    ap.add_argument(
        "--seconds", type=float, default=None,
        help="budget of each whole estimate call (default: the net's goal, else 60 s)",
    )  # fmt: skip
    args = ap.parse_args()
    print(f"# deep Lipschitz bench ({platform.processor() or platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, whole-call budget "
          f"{'per goal' if args.seconds is None else args.seconds})")  # fmt: skip
    cases = QUICK if args.quick else GOAL_CASES if args.goals else [
        (how, depth, w, d, s) for how in ("adam", "sgd", "fit") for depth, w, d in GRID
        for s in SEEDS
    ]  # fmt: skip
    for case in cases:
        run(*case, seconds=args.seconds)


if __name__ == "__main__":
    main()
