"""Explicit interpolants across the size-smoothness trade-off, with certified Lipschitz constants.

For a few (n, d) with points uniform on the sphere and random +-1 labels, every
construction of :mod:`robustlaw.models.constructions` is built and its Lipschitz constant
printed as a certified interval [lower, upper] on the sphere (the law's domain: tangential
gradient) and on R^d, with the method behind each bound:

- the construction's own report (closed forms; subset / cap-clique relaxations above;
  gradient norms at witness points below);
- the exact solver ``robustlaw.lipschitz.exact`` (registered as method "exact") when it is
  installed and the network is small enough for its budget;
- ``robustlaw.lipschitz.estimate`` when it is installed.

The best lower and the best certified upper are kept; "exact" means they met. Then:

1. the in-between frontier: grouped caps with group sizes 1..d (k from about n/d to n),
   the smaller certified upper bound of two cap margins per size, and the slope of
   log Lip against log k (the conjecture of Bubeck, Li, Nagaraj: Lip >= sqrt(n/k), slope
   -1/2 for the smallest possible constant);
2. the small end against d: the ReLU memorizer at n = 4 d (the law predicts Lip >~ sqrt(d)
   there).

Run ``python examples/constructions.py`` (about a minute on two cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

import robustlaw.data as rd
from robustlaw.analysis.powerlaw import fit_power_law
from robustlaw.models.constructions import (
    LipschitzInterval,
    baum_memorizer,
    cap_interpolant,
    grouped_cap_interpolant,
    radial_bump_interpolant,
    relu_memorizer,
)

try:  # the exact solver registers itself as method "exact"
    from robustlaw.lipschitz import Budget
    from robustlaw.lipschitz.exact import exact_lipschitz
except ImportError:  # pragma: no cover - depends on the installed package
    exact_lipschitz = None

try:
    from robustlaw.lipschitz import estimate
except ImportError:  # pragma: no cover
    estimate = None


@dataclass
class Bound:
    """A certified interval with the names of the methods that gave each end."""

    lower: float
    upper: float
    lower_by: str
    upper_by: str

    @classmethod
    def of(cls, interval: LipschitzInterval | None) -> Bound:
        if interval is None:
            return cls(0.0, math.inf, "-", "-")
        return cls(
            interval.lower,
            interval.upper,
            _short(interval.lower_method),
            _short(interval.upper_method),
        )

    def merge(self, lower: float, upper: float, by: str) -> None:
        if lower > self.lower * (1 + 1e-12):
            self.lower, self.lower_by = float(lower), by
        if upper < self.upper * (1 - 1e-12):
            self.upper, self.upper_by = float(upper), by

    @property
    def exact(self) -> bool:
        return math.isfinite(self.upper) and self.upper - self.lower <= 1e-6 * self.upper

    def cell(self) -> str:
        if math.isinf(self.lower):
            return "inf (discontinuous)"
        if self.exact:
            return f"{self.upper:.4g} exact ({self.upper_by})"
        return f"[{self.lower:.4g}, {self.upper:.4g}] ({self.lower_by} / {self.upper_by})"


def _short(method: str) -> str:
    for key, label in (
        ("closed form", "closed form"),
        ("discontinuous", "discontinuous"),
        ("cap cliques", "cap cliques"),
        ("subset relaxation", "subset relax."),
        ("witness", "witness"),
        ("sum of the closed form", "overlap x closed form"),
        ("constant", "constant"),
    ):
        if key in method:
            return label
    return method[:20]


def measure(model, report, domain: str, exact_budget: float) -> Bound:
    """The report's interval on ``domain``, tightened by the exact solver and estimate()."""
    bound = Bound.of(report.lipschitz.get(domain))
    if report.neurons is None or model.activation.name != "relu" or math.isinf(bound.lower):
        return bound
    k, d = report.neurons, report.d
    if exact_lipschitz is not None and exact_budget > 0 and (d <= 3 or k <= 40):
        result = exact_lipschitz(model, domain=domain, budget=Budget(seconds=exact_budget))
        status = result.status[0]
        label = "exact solver" if status == "ok" else f"exact solver, {status.split(':')[0]}"
        bound.merge(result.lower[0], result.upper[0], label)
    if estimate is not None:
        try:
            record = estimate(model, domain=domain, budget=Budget(seconds=exact_budget))
            record = record.to_records()[0]
            lower, upper = float(record["lower"]), float(record["upper"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            print(f"    (estimate() not used: {type(exc).__name__}: {exc})")
        else:
            bound.merge(lower, upper, "estimate()")
    return bound


def sphere_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    sample = rd.sample("sphere", n=n, d=d, seed=seed, labels="random_sign", dtype=torch.float64)
    return sample.X.double().numpy(), sample.y.double().numpy()


def table(n: int, d: int, seed: int, exact_budget: float) -> None:
    X, y = sphere_data(n, d, seed)
    rows = []
    builds = [
        ("baum (threshold)", lambda: baum_memorizer(X, y, seed=seed)),
        ("relu memorizer", lambda: relu_memorizer(X, y, seed=seed)),
    ]
    sizes = sorted({min(d, m) for m in (d, d // 2, 4, 3, 2, 1) if m >= 1}, reverse=True)
    for m in sizes:
        builds.append((f"grouped caps m={m}", lambda m=m: grouped_cap_interpolant(X, y, m)))
    builds += [
        ("caps s=max", lambda: cap_interpolant(X, y)),
        ("caps s=disjoint", lambda: cap_interpolant(X, y, s="disjoint")),
        ("radial bump (not F_k)", lambda: radial_bump_interpolant(X, y)),
    ]
    print(f"\n### n = {n}, d = {d}, seed {seed}: sphere data, random +-1 labels\n")
    header = "construction | k | p | max err | sqrt(n/k) | Lip on sphere | Lip on R^d"
    print(f"| {header} | s or r0 | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, build in builds:
        start = time.perf_counter()
        model, report = build()
        sphere = measure(model, report, "sphere", exact_budget)
        flat = measure(model, report, "rd", exact_budget)
        k = report.neurons
        law = f"{math.sqrt(n / k):.2f}" if k else "-"
        s = report.details.get("s", report.details.get("r0", ""))
        s = f"{s:.3g}" if isinstance(s, float) else ""
        rows.append((name, k, report, sphere, flat))
        print(
            f"| {name} | {k if k else '-'} | {report.params} | {report.max_error:.1e} | {law} | "
            f"{sphere.cell() if 'sphere' in report.lipschitz or k else '-'} | {flat.cell()} | "
            f"{s} | {time.perf_counter() - start:.1f} |"
        )


def frontier(n: int, d: int, seeds: list[int], exact_budget: float) -> None:
    """Grouped caps for every group size and two cap margins; per seed, the upper frontier:
    at each k, the network with at most k units and the smallest certified upper bound (a
    network with fewer units is one with k units, the extra ones idle)."""
    print(f"\n### In between: grouped caps, n = {n}, d = {d}, seeds {seeds}\n")
    print("Frontier = best certified upper bound with at most k units (group size m, margin).\n")
    print("| seed | k | m | margin | sqrt(n/k) | Lip on sphere [lower, upper] | built |")
    print("|---|---|---|---|---|---|---|")
    ks, lows, ups, seed_of = [], [], [], []
    for seed in seeds:
        X, y = sphere_data(n, d, seed)
        built = []
        for m in range(1, d + 1):
            for margin in (0.0, 1.0):
                model, report = grouped_cap_interpolant(X, y, m, margin=margin)
                bound = measure(model, report, "sphere", exact_budget if d <= 3 else 0.0)
                built.append((report.neurons, bound, m, margin))
        built.sort(key=lambda item: item[0])
        best = None
        for k in sorted({item[0] for item in built}):
            for item in built:
                if item[0] <= k and (best is None or item[1].upper < best[1].upper):
                    best = item
            if best[0] != k:
                continue  # no network of exactly this size beats a smaller one
            _, bound, m, margin = best
            count = sum(1 for item in built if item[0] == k)
            ks.append(k)
            lows.append(bound.lower)
            ups.append(bound.upper)
            seed_of.append(seed)
            print(
                f"| {seed} | {k} | {m} | {margin:g} | {math.sqrt(n / k):.2f} | "
                f"[{bound.lower:.3g}, {bound.upper:.3g}] | {count} |"
            )
    for label, values in (("certified upper", ups), ("witnessed lower", lows)):
        fit = fit_power_law(ks, values, seed_of, n_resamples=999, x_label="k", y_label=label)
        low, high = fit.slope_ci
        interval = (
            f"95% CI over seeds [{low:+.2f}, {high:+.2f}] ({fit.method})"
            if math.isfinite(low) and math.isfinite(high)
            else "(no interval)"
        )
        print(
            f"\nfrontier slope of log({label} Lip) vs log k: {fit.slope:+.2f} {interval} "
            "(conjectured lower bound sqrt(n/k): -0.50)"
        )


def small_end(dims: list[int], seeds: list[int], exact_budget: float) -> None:
    print("\n### Small end: ReLU memorizer at n = 4 d (law: Lip >~ sqrt(d))\n")
    print("| d | n | k | seed | Lip on sphere | Lip on R^d | sqrt(n/k) |")
    print("|---|---|---|---|---|---|---|")
    xs, ys, seed_of = [], [], []
    for d in dims:
        n = 4 * d
        for seed in seeds:
            X, y = sphere_data(n, d, seed)
            model, report = relu_memorizer(X, y, seed=seed)
            sphere = measure(model, report, "sphere", 0.0)
            flat = measure(model, report, "rd", exact_budget)
            k = report.neurons
            print(
                f"| {d} | {n} | {k} | {seed} | {sphere.cell()} | {flat.cell()} | "
                f"{math.sqrt(n / k):.2f} |"
            )
            xs.append(d)
            ys.append(sphere.lower)
            seed_of.append(seed)
    fit = fit_power_law(xs, ys, seed_of, n_resamples=999, x_label="d", y_label="lip_lower")
    print(f"\nslope of log(sphere Lip, witnessed lower) vs log d: {fit.slope:+.2f} (law: >= +0.50)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    args = parser.parse_args()
    start = time.perf_counter()
    exact_budget = 2.0
    print("Every interval is certified: lower = a gradient norm recomputed at a witness point,")
    print("upper = a bound that holds by a theorem (closed form, relaxation, exact solver).")
    if exact_lipschitz is None:
        print("(robustlaw.lipschitz.exact is not installed: the reports' own bounds only)")
    settings = [(24, 3)] if args.quick else [(24, 3), (48, 8)]
    for n, d in settings:
        table(n, d, 0, exact_budget)
    if args.quick:
        frontier(32, 8, [0, 1], exact_budget)
        small_end([2, 4, 8], [0, 1], exact_budget)
    else:
        frontier(64, 16, [0, 1, 2], exact_budget)
        small_end([2, 4, 8, 16, 32], [0, 1, 2], exact_budget)
    print(f"\ntotal {time.perf_counter() - start:.0f}s (shared machine: timings are noisy)")


if __name__ == "__main__":
    main()
