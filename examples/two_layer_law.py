"""The two-layer law of robustness on widths you choose.

Bubeck, Li and Nagaraj conjecture that every network with k ReLU units interpolating random
±1 labels of n points uniform on the sphere S^(d-1) has Lip >= c·sqrt(n/k) on the sphere.
This script fits, for each width k and seed, the smoothest interpolating network the search
finds, brackets its Lipschitz constant on the sphere between certified bounds (exact where
the branch and bound closes within the budget), and then prints

- per width: the median lower bound, certified upper bound and exact value over seeds,
  beside the data floor (the least Lipschitz constant of *any* interpolant);
- the log-log slope of Lip against k over n/d <= k <= n with its bootstrap interval, the
  law's -1/2, the floor's own slope and the regime of each verdict.

Run ``python examples/two_layer_law.py --widths 5,10,20,40,80`` (a few minutes on two
cores; results are stored in --out and a rerun resumes), or ``--tiny`` for a smoke run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import int_list, print_verdicts, run_and_assess

from robustlaw.analysis import smoothest_fits
from robustlaw.analysis.tables import numeric_column


def spec(n: int, d: int, widths: list[int], seeds: int, seconds: float, steps: int) -> dict:
    return {
        "name": f"tutorial-two-layer-n{n}-d{d}",
        "experiment": "two_layer_law",
        "seeds": list(range(seeds)),
        "data": {"distribution": "sphere", "n": n, "d": d, "labels": "random_sign"},
        "model": {"family": "two_layer", "activation": "relu", "widths": widths},
        "fit": {
            "target": "interpolate",
            "tol": 1e-3,
            "smoothest": True,
            "penalty": "averaged",
            "strengths": [0.1],
            "steps": steps,
            "lr": 0.01,
            "options": {"fit_steps": 4 * steps, "polish_steps": steps // 4, "stages": 1},
        },
        "lipschitz": {
            "domain": "sphere",
            "methods": ["lower", "upper", "exact"],
            "budget_seconds": seconds,
            "test_points": 50,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="points on the sphere (60)")
    parser.add_argument("--d", type=int, default=10, help="dimension (10)")
    parser.add_argument("--widths", type=int_list, default=[3, 6, 12, 24, 48, 96])
    parser.add_argument("--seeds", type=int, default=4, help="seeds (4)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-results"))
    parser.add_argument("--tiny", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    n, d, widths, seeds, seconds, steps = args.n, args.d, args.widths, args.seeds, 1.0, 400
    if args.tiny:
        n, d, widths, seeds, seconds, steps = 16, 6, [2, 4, 8, 16], 3, 0.3, 60
    for name, value in (("--n", n), ("--d", d), ("--seeds", seeds)):
        if value < 2:
            parser.error(f"{name} must be at least 2, got {value}")

    records, verdicts = run_and_assess(spec(n, d, widths, seeds, seconds, steps), args.out)
    cells = smoothest_fits(records)
    print(f"\nn = {n} points on S^{d - 1}, random ±1 labels; medians over seeds")
    print(f"{'k':>5} {'fitted':>7} {'lower':>8} {'upper':>8} {'exact':>8} {'floor':>7}")
    for width, group in cells.groupby("width"):
        fitted = group[group["fit_reached"].astype(bool)]
        values = [numeric_column(fitted, c).median() for c in ("lip_lower", "lip_upper")]
        exact = numeric_column(fitted, "lip_exact").median()
        floor = numeric_column(group, "lip_floor").median()
        print(
            f"{int(width):>5} {len(fitted):>3}/{len(group):<3} {values[0]:>8.3f} "
            f"{values[1]:>8.3f} {exact:>8.3f} {floor:>7.3f}"
        )
    print("lower: a value at a witness; upper: certified; exact: proven (NaN: not proven)")
    print()
    print_verdicts([v for v in verdicts if v.relation == "Lip vs k at fixed n"])


if __name__ == "__main__":
    main()
