"""Random features vs NTK features: is the minimum-norm interpolator robust?

Bombari, Kiyani and Mondelli (ICML 2023) measure the *sensitivity* sqrt(d)·||grad f(z)|| of
the minimum-norm interpolator theta = Z^+ y at test points z. Random-feature interpolators
(first layer fixed, features phi(W^T x), p = k) are not robust at any over-parameterization;
NTK interpolators (features x ⊗ phi'(W^T x), p = d k) meet the universal law's sqrt(n d / p)
once p ≳ n d, but only with even activations such as cos, while tanh plateaus.

This script fits both families in closed form for p from below n to above n d, for tanh and
cos, and prints the median sensitivity over seeds per p, then the slope of each curve
against p beside the universal law's -1/2. The sensitivity is an estimate (an average of
gradient norms at test points), not a certified Lipschitz bound.

Run ``python examples/rf_vs_ntk.py`` (a minute or two), or ``--tiny`` for a smoke run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import print_verdicts, run_and_assess

from robustlaw.analysis import seed_summary, smoothest_fits


def spec(n: int, d: int, widths_rf: list[int], widths_ntk: list[int], seeds: int) -> dict:
    return {
        "name": f"tutorial-rf-ntk-n{n}-d{d}",
        "experiment": "rf_ntk",
        "seeds": list(range(seeds)),
        "zip": [["model.family", "model.widths"]],
        "data": {"distribution": "gaussian", "n": n, "d": d, "labels": "random_sign"},
        "model": {
            "family": ["random_features", "ntk"],
            "activation": ["tanh", "cos"],
            "widths": [widths_rf, widths_ntk],
        },
        "fit": {"target": "interpolate", "ridge": 0.0},
        "lipschitz": {"methods": [], "test_points": 200},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="training points (60)")
    parser.add_argument("--d", type=int, default=12, help="dimension (12)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds (5)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-results"))
    parser.add_argument("--tiny", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    n, d, seeds = (20, 8, 3) if args.tiny else (args.n, args.d, args.seeds)
    if n < 4 or d < 2 or seeds < 2:
        parser.error("--n must be at least 4, --d at least 2 and --seeds at least 2")
    # p from n/2 to 8 n d: p = k for random features, p = d k for NTK features
    ps = [n // 2 * 2**i for i in range(0, 20) if n // 2 * 2**i <= 8 * n * d]
    widths_ntk = sorted({max(1, p // d) for p in ps})
    records, verdicts = run_and_assess(spec(n, d, ps, widths_ntk, seeds), args.out)
    cells = smoothest_fits(records)
    summary = seed_summary(cells, ["family", "activation", "p"], "sensitivity")
    print(f"\nsensitivity sqrt(d)·||grad f(z)|| (an estimate; median over {seeds} seeds)")
    print(f"n = {n}, d = {d}")
    for (family, activation), rows in summary.groupby(["family", "activation"]):
        pairs = zip(rows["p"], rows["median"], strict=True)
        values = "  ".join(f"p={int(p)}: {m:.3g}" for p, m in pairs)
        print(f"  {family:<16} {activation:<5} {values}")
    print()
    print_verdicts([v for v in verdicts if v.quantity == "sensitivity"])


if __name__ == "__main__":
    main()
