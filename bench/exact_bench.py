"""Benchmark: exact Lipschitz constants of two-layer ReLU networks on R^d.

For d in {2, 3, 10, 32} and k in {16, 64, 256}, on random (PyTorch default init) and
trained networks (n = k d / 4 sphere points with random +-1 labels, plain full-batch Adam until
the MSE is below 1e-4; fixed seeds), prints a Markdown table: the certified interval of
``exact_lipschitz`` (exact when proven), upper/lower, nodes, seconds, the algorithm
used, the time over the budget (negative: solved early), and the time of a plain
baseline run side by side: sorted-pattern enumeration with
LP checks (all 2^k patterns sorted by gradient norm, the first realizable one is the
answer), where it finishes within its cap.

Every number is certified: ``lower`` is the gradient norm recomputed in float64 at a
witness point strictly inside its region, ``upper`` a bound proven by the search.

``--compare`` runs trained networks of one size (``--trained D K``, seeds ``--seeds``;
``--bench-net`` adds the trained d = 10, k = 64 net of bench/lipschitz_bench.py) three
times each, side by side in one run: without learned no-goods in one process, with them
in one process, and with them in two processes (``workers=2``), and prints the certified
intervals and their upper/lower ratios; with ``--domain ball`` or ``sphere`` it compares
keeping every tangent cut of the ball with keeping the newest 2 d, and no-goods off / on.

Usage::

    .venv/bin/python bench/exact_bench.py            # full grid, 60 s per network
    .venv/bin/python bench/exact_bench.py --quick    # small grid, 10 s per network
    .venv/bin/python bench/exact_bench.py --quick --domain sphere
    .venv/bin/python bench/exact_bench.py --compare --trained 10 64 --seeds 0,1,2 --bench-net
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from robustlaw._pl import CutSettings, ExactSettings, RegionLP, family_nets
from robustlaw.lipschitz import Budget
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer


def sphere_data(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points uniform on S^{d-1} and independent uniform +-1 labels."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X /= X.norm(dim=1, keepdim=True)
    y = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
    return X, y


def trained_net(
    d: int, k: int, seed: int = 0, n: int | None = None, max_steps: int = 30000
) -> tuple[TwoLayer, dict]:
    """A width-k ReLU net fitted to n = k d / 4 random-label sphere points."""
    n = max(8, k * d // 4) if n is None else n
    X, y = sphere_data(n, d, seed)
    fam = TwoLayer(d=d, widths=[k], seeds=[seed], dtype=torch.float64)
    opt = torch.optim.Adam(fam.parameters(), lr=1e-2)
    mse = math.inf
    steps = 0
    while steps < max_steps:
        opt.zero_grad()
        loss = ((fam(X)[0] - y) ** 2).mean()
        mse = float(loss.detach())
        if mse < 1e-4:
            break
        loss.backward()
        opt.step()
        steps += 1
    return fam, {"n": n, "mse": mse, "steps": steps}


def sorted_patterns_baseline(
    family: TwoLayer, seconds: float, max_k: int = 22
) -> tuple[float | None, float]:
    """Plain baseline: all 2^k patterns sorted by ||grad||, LP-checked in that order.

    Returns (value or None when it did not finish within ``seconds``, seconds used).
    """
    start = time.perf_counter()
    prob = family_nets(family)[0].arrangement
    k = prob.k
    if k > max_k:
        return None, 0.0
    Z = np.array(list(itertools.product((0, 1), repeat=k)), dtype=np.int8)
    norms = np.linalg.norm(prob.g0 + Z @ prob.M, axis=1)
    order = np.argsort(-norms)
    lp = RegionLP(prob.W, prob.b, warm=False)
    for i in order:
        if time.perf_counter() - start > seconds:
            return None, time.perf_counter() - start
        res = lp.margin(np.where(Z[i] > 0, 1, -1).astype(np.int8))
        if res.witness:
            return float(norms[i]), time.perf_counter() - start
    return None, time.perf_counter() - start


#: Search settings compared by ``--compare`` on R^d: (settings, worker processes).
CONFIGS: dict[str, tuple[ExactSettings, int]] = {
    "no-goods off, 1 process": (ExactSettings(learn=False), 1),
    "no-goods on, 1 process": (ExactSettings(learn=True), 1),
    "no-goods on, 2 processes": (ExactSettings(learn=True), 2),
}
#: ... and on the ball and the sphere: the pool of the ball's tangent cuts.
BOUNDED_CONFIGS: dict[str, tuple[ExactSettings, int]] = {
    "every ball cut kept, no-goods off": (
        ExactSettings(cuts=CutSettings(pool=None), learn=False),
        1,
    ),
    "newest 2 d ball cuts kept, no-goods off": (
        ExactSettings(cuts=CutSettings(pool=2), learn=False),
        1,
    ),
    "newest 2 d ball cuts kept, no-goods on": (
        ExactSettings(cuts=CutSettings(pool=2), learn=True),
        1,
    ),
}


def lipschitz_bench_net() -> TwoLayer:
    """The trained d = 10, k = 64 net of bench/lipschitz_bench.py (n = 160 sphere points,
    NTK initialization, Adam until the MSE is below 1e-4)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import lipschitz_bench as lb

    d, k = 10, 64
    seed = 1000 * d + k
    X, y = lb.sphere_data(min(200, max(4, k * d // 4)), d, seed)
    fam = TwoLayer(d=d, widths=[k], seeds=[seed % 997], dtype=torch.float64, init="ntk")
    fam, _, _ = lb.train(fam, X, y)
    for p in fam.parameters():
        p.requires_grad_(False)
    return fam


def compare(d: int, k: int, seeds: list[int], seconds: float, bench_net: bool, domain: str) -> int:
    """Trained (d, k) nets, each solved with every configuration in turn."""
    configs = CONFIGS if domain == "rd" else BOUNDED_CONFIGS
    print(
        f"# exact Lipschitz constant on {domain}, trained d = {d}, k = {k} ReLU nets; budget "
        f"{seconds:g} s per net and configuration; configurations run one after the other "
        "on each net (wall clock on a shared machine: the load differs between runs)\n"
    )
    print(
        "| net | configuration | lower (certified) | upper (certified) | upper/lower | "
        "status | nodes | LPs | no-goods | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    nets = [(f"seed {seed}", lambda seed=seed: trained_net(d, k, seed=seed)[0]) for seed in seeds]
    if bench_net:
        nets.append(("lipschitz bench net", lipschitz_bench_net))
    for label_net, make in nets:
        fam = make()
        for label, (settings, workers) in configs.items():
            t0 = time.perf_counter()
            res = exact_lipschitz(
                fam,
                domain=domain,
                budget=Budget(seconds=seconds),
                workers=workers,
                settings=settings,
            )
            secs = time.perf_counter() - t0
            info = res.info[0]
            lo, up = float(res.lower[0]), float(res.upper[0])
            print(
                f"| {label_net} | {label} | {lo:.6g} | {up:.6g} | {up / lo:.4f} | "
                f"{res.status[0]} | {info.get('nodes', '—')} | {info.get('lps', '—')} | "
                f"{info.get('nogoods', '—')} | {secs:.2f} |",
                flush=True,
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, 10 s per network")
    parser.add_argument("--seconds", type=float, default=None, help="budget per network")
    parser.add_argument("--baseline-cap", type=float, default=None, help="baseline cap (s)")
    parser.add_argument(
        "--domain", default="rd", choices=("rd", "ball", "sphere"), help="domain of Lip"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="previous against current search settings on trained nets (--trained, --seeds)",
    )
    parser.add_argument(
        "--trained", nargs=2, type=int, default=(10, 64), metavar=("D", "K"), help="net size"
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument(
        "--bench-net",
        action="store_true",
        help="--compare also on the trained d = 10, k = 64 net of bench/lipschitz_bench.py",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes per exact solve (grid runs)"
    )
    args = parser.parse_args(argv)
    if args.compare:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        return compare(*args.trained, seeds, args.seconds or 60.0, args.bench_net, args.domain)
    if args.quick:
        grid = [(2, 16), (2, 64), (3, 16), (3, 64), (10, 16)]
        seconds = args.seconds or 10.0
        cap = args.baseline_cap or 10.0
    else:
        grid = list(itertools.product((2, 3, 10, 32), (16, 64, 256)))
        seconds = args.seconds or 60.0
        cap = args.baseline_cap or 60.0
    print(
        f"# exact Lipschitz constant on {args.domain}, two-layer ReLU; budget {seconds:g} s "
        f"per net, baseline cap {cap:g} s (R^d only); torch threads "
        f"{torch.get_num_threads()}\n"
    )
    print(
        "| d | k | net | lower (certified) | upper (certified) | upper/lower | status | "
        "algorithm | nodes | seconds | over budget (s) | baseline: sorted patterns + LP |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst_over = -math.inf
    for d, k in grid:
        for kind in ("random", "trained"):
            if kind == "random":
                fam = TwoLayer(d=d, widths=[k], seeds=[0], dtype=torch.float64)
                note = "random"
            else:
                fam, meta = trained_net(d, k)
                note = f"trained n={meta['n']} mse={meta['mse']:.1e}"
            t0 = time.perf_counter()
            res = exact_lipschitz(
                fam, domain=args.domain, budget=Budget(seconds=seconds), workers=args.workers
            )
            secs = time.perf_counter() - t0
            info = res.info[0]
            base_val, base_secs = (
                sorted_patterns_baseline(fam, cap) if args.domain == "rd" else (None, 0.0)
            )
            if base_val is None:
                if args.domain != "rd":
                    base = "—"
                elif base_secs == 0:
                    base = f"not run (2^{k} patterns)"
                else:
                    base = f"not done in {cap:g} s"
            else:
                agree = abs(base_val - res.lower[0]) <= 1e-6 * base_val
                base = f"{base_val:.6g} in {base_secs:.2f} s ({'agrees' if agree else 'DIFFERS'})"
            lo, up = float(res.lower[0]), float(res.upper[0])
            print(
                f"| {d} | {k} | {note} | {lo:.6g} | {up:.6g} | {up / lo:.4f} | "
                f"{res.status[0]} | {info.get('algorithm')} | {info.get('nodes', '—')} | "
                f"{secs:.2f} | {secs - seconds:+.2f} | {base} |",
                flush=True,
            )
            worst_over = max(worst_over, secs - seconds)
    print(
        f"\nworst time over the {seconds:g} s budget: {worst_over:+.2f} s "
        "(wall clock, on a shared machine)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
