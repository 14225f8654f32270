"""What the smoothest-fit search achieves: best certified Lipschitz upper bound vs width.

Sphere data (n points uniform on S^{d-1}), random +-1 labels (sigma^2 = 1), two-layer ReLU
networks of widths k (log-spaced from below n/d to beyond n), several seeds, two targets:
BelowNoise(eps) and Interpolate(tol). For every (k, seed) :func:`robustlaw.smoothest_fit`
returns the fitting candidate with the smallest *certified* upper bound on Lip over R^d
(simple bounds: spectral product, path norm, averaged ReLU bound, with balanced
rescaling). Printed per k: the median over seeds of that bound (and which bound it is), the
median sampled lower bound max ||grad f|| at the data and support points of the chosen
networks (also certified: witnesses), how many seeds fit, and the conjectured sqrt(n/k);
then the log-log slope of the certified upper bound against k over n/d <= k <= n (least
squares on all (k, seed) points, with its standard error). Two reference numbers: the
*separation floor* max over opposite-label pairs of 2 / ||x_i - x_j||, below which no
interpolant's Lipschitz constant can go, and, for each chosen network, the *path-norm
floor* path / (2 sqrt d), below which none of the simple certified bounds can go
(averaged >= ||a|| ||W||_op / 2 >= path / (2 sqrt d)).

Usage::

    .venv/bin/python bench/smoothest_frontier.py [--n 200] [--d 10] [--seeds 3] [--quick]

Frontier mode (``--frontier``): the domain-aware search on the sphere
(``smoothest_fit(domain="sphere", effort=...)``, warm starts from explicit constructions),
for every n in ``--ns``, d in ``--ds`` and both targets, widths log-spaced from n/d/2 to 4n,
one data set per seed. Columns: k, n/k, the smallest certified sphere-Lip found (median,
min-max over seeds; certified by the bound named), the region-search lower bound of the
chosen networks (certified, a witness), the data floor max over opposite-label pairs of
2/theta_ij (geodesic angle; no interpolant on the sphere goes below it), the cap
construction's certified sphere value (disjoint caps, closed form), and the log-log slope
of the certified value against n/k over n/d <= k <= n with its standard error::

    .venv/bin/python bench/smoothest_frontier.py --frontier --ns 100 --ds 20 --effort quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from robustlaw.fitting import BelowNoise, Interpolate, smoothest_fit
from robustlaw.models import TwoLayer


def _data(n: int, d: int, seed: int, dtype: torch.dtype):
    try:
        from robustlaw import data as rd

        X, y, _ = rd.sample("sphere", n=n, d=d, seed=seed, labels="random_sign", dtype=dtype)
    except (ImportError, AttributeError):
        gen = torch.Generator().manual_seed(seed)
        X = torch.randn(n, d, dtype=dtype, generator=gen)
        X = X / X.norm(dim=1, keepdim=True)
        y = torch.sign(torch.randn(n, dtype=dtype, generator=gen))
    return X, y


def _warm_starts(X: torch.Tensor, y: torch.Tensor, widths: list[int]) -> TwoLayer | None:
    """Explicit interpolants as warm starts, one per width k they fit into (padded to k with
    zero units): the 2n-unit cap interpolant for k >= 2n, the grouped-cap interpolant with
    about k units below (docs/science.md section 4; ``robustlaw.models.constructions``)."""
    try:
        from robustlaw.models import constructions as C
    except ImportError:
        return None
    n, d = X.shape
    Xd, yd = X.double(), y.double()
    nets = []
    for k in widths:
        if k >= 2 * n:
            net, _ = C.cap_interpolant(Xd, yd)
            kind = "cap"
        else:
            net, _ = C.grouped_cap_interpolant(Xd, yd, k=k)
            kind = "grouped_cap"
        units = int(net.widths[0])
        if units > k:
            continue
        eff = net.effective_weights()
        W = torch.zeros(1, k, d, dtype=torch.float64)
        a = torch.zeros(1, k, dtype=torch.float64)
        b = torch.zeros(1, k, dtype=torch.float64)
        W[0, :units] = eff.W[0][eff.mask[0]]
        a[0, :units] = eff.a[0][eff.mask[0]]
        b[0, :units] = eff.b[0][eff.mask[0]]
        nets.append((W, a, b, {"width": k, "seed": f"{kind}({units} units)"}))
    if not nets:
        return None
    k_max = max(w.shape[1] for w, *_ in nets)

    def pad(t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(1, k_max, *t.shape[2:], dtype=t.dtype)
        out[:, : t.shape[1]] = t
        return out

    mask = torch.zeros(len(nets), k_max, dtype=torch.bool)
    for i, (W, *_) in enumerate(nets):
        mask[i, : W.shape[1]] = True
    return TwoLayer.from_tensors(
        torch.cat([pad(W) for W, *_ in nets]).float(),
        torch.cat([pad(a) for _, a, _, _ in nets]).float(),
        b=torch.cat([pad(b) for _, _, b, _ in nets]).float(),
        mask=mask,
        members=[m for *_, m in nets],
    )


def _slope(ks: list[float], values: list[float]) -> tuple[float, float, int]:
    x, v = np.log(np.asarray(ks)), np.log(np.asarray(values))
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, len(x)
    A = np.stack([x, np.ones_like(x)], axis=1)
    coef, res, *_ = np.linalg.lstsq(A, v, rcond=None)
    dof = len(x) - 2
    sigma2 = float(res[0]) / dof if len(res) and dof > 0 else 0.0
    cov = sigma2 * np.linalg.inv(A.T @ A)
    return float(coef[0]), float(math.sqrt(cov[0, 0])), len(x)


def _floor(X: torch.Tensor, y: torch.Tensor) -> float:
    """max over opposite-label pairs of 2 / theta_ij (geodesic angle on the sphere)."""
    Xd, yd = X.double(), y.double()
    theta = torch.arccos((Xd @ Xd.T).clamp(-1.0, 1.0))
    opposite = yd[:, None] != yd[None, :]
    return float((2.0 / theta[opposite]).max())


def frontier(args: argparse.Namespace) -> None:
    """The domain-aware search on the sphere; prints one table per (n, d, target)."""
    from robustlaw.lipschitz import Budget, estimate
    from robustlaw.models import constructions as C

    for n in [int(v) for v in args.ns.split(",")]:
        for d in [int(v) for v in args.ds.split(",")]:
            lo, hi = max(1.0, n / d / 2), 4.0 * n
            widths = sorted({round(float(v)) for v in np.geomspace(lo, hi, args.n_widths)})
            for target in (Interpolate(args.tol), BelowNoise(0.8, noise_level=1.0)):
                rows: dict[int, list[dict]] = {k: [] for k in widths}
                floors, caps, seconds = [], [], []
                for seed in range(args.seeds):
                    X, y = _data(n, d, seed=1000 + seed, dtype=torch.float64)
                    floors.append(_floor(X, y))
                    _, rep = C.cap_interpolant(X, y, s="disjoint")
                    caps.append(rep.lipschitz["sphere"].upper)
                    fam = TwoLayer(d, widths, seeds=[seed], dtype=torch.float64)
                    start = time.perf_counter()
                    res = smoothest_fit(
                        fam, X, y, target, penalty="averaged", strengths=(0.01, 0.1),
                        domain="sphere", effort=args.effort, progress=False,
                    )  # fmt: skip
                    seconds.append(time.perf_counter() - start)
                    low = estimate(
                        res.family, domain="sphere", methods=("region_search",),
                        budget=Budget(args.lower_seconds), X=X,
                    ).lower  # fmt: skip
                    for r, lower in zip(res.best, low, strict=True):
                        rows[r["width"]].append(dict(r, region_lower=float(lower)))
                    print(
                        f"[n={n} d={d} seed={seed}] {seconds[-1]:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                print(
                    f"## n = {n}, d = {d}, {type(target).__name__} (threshold {res.threshold:g}),"
                    f" effort {args.effort}, {args.seeds} seeds, {np.median(seconds):.0f} s "
                    "per batch (median; shared, loaded machine)\n"
                )
                print(
                    "| k | n/k | seeds fitting | certified sphere-Lip (median) | min-max "
                    "| certified by | region-search lower (median) | data floor (median) "
                    "| cap construction (median, certified) |"
                )
                print("|---|---|---|---|---|---|---|---|---|")
                ks, values = [], []
                for k in widths:
                    fit_rows = [r for r in rows[k] if r["fits"]]
                    if not fit_rows:
                        print(f"| {k} | {n / k:.2f} | 0/{len(rows[k])} | - | - | - | - | "
                              f"{np.median(floors):.3f} | {np.median(caps):.3f} |")  # fmt: skip
                        continue
                    ups = [r["upper"] for r in fit_rows]
                    by = sorted({r["upper_name"] for r in fit_rows})
                    print(
                        f"| {k} | {n / k:.2f} | {len(fit_rows)}/{len(rows[k])} "
                        f"| {np.median(ups):.3f} | {min(ups):.3f}-{max(ups):.3f} "
                        f"| {', '.join(by)} "
                        f"| {np.median([r['region_lower'] for r in fit_rows]):.3f} "
                        f"| {np.median(floors):.3f} | {np.median(caps):.3f} |"
                    )
                    if n / d <= k <= n:
                        ks += [n / k] * len(ups)
                        values += ups
                slope, err, count = _slope(ks, values)
                print(
                    f"\nlog-log slope of the certified sphere-Lip vs n/k over n/d <= k <= n "
                    f"({count} points): {slope:+.3f} +- {err:.3f} (standard error); the "
                    "conjecture predicts +0.5 above the floor\n",
                    flush=True,
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--widths", type=str, default="16,32,64,128,256,512,1024")
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="short budgets (a smoke run)")
    p.add_argument(
        "--warm-start",
        action="store_true",
        help="add explicit interpolants (robustlaw.models.constructions) as warm starts",
    )
    p.add_argument("--frontier", action="store_true", help="the domain-aware sphere frontier")
    p.add_argument("--ns", type=str, default="100,200")
    p.add_argument("--ds", type=str, default="20,40")
    p.add_argument("--n-widths", type=int, default=8)
    p.add_argument("--effort", type=str, default="quick")
    p.add_argument("--lower-seconds", type=float, default=1.0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.frontier:
        frontier(args)
        return
    n, d = args.n, args.d
    widths = [int(w) for w in args.widths.split(",")]
    X, y = _data(n, d, seed=12345, dtype=torch.float32)
    budget = (
        {"fit_steps": 300, "steps": 300, "stages": 1, "polish_steps": 100}
        if args.quick
        else {"fit_steps": 3000, "steps": 3000, "stages": 3, "polish_steps": 1000}
    )
    Xd, yd = X.double(), y.double()
    opposite = yd[:, None] != yd[None, :]
    separation = float((2 / torch.cdist(Xd, Xd)[opposite]).max())
    print(f"# Smoothest fit vs width (n = {n}, d = {d}, sphere, random +-1 labels)")
    print(f"\nseeds {args.seeds}; budgets {budget}; float32; n/d = {n / d:g}")
    print(f"separation floor (every interpolant has Lip >= this): {separation:.3f}\n")
    for target in (BelowNoise(args.eps, noise_level=1.0), Interpolate(args.tol)):
        start = time.perf_counter()
        fam = TwoLayer(d, widths, seeds=list(range(args.seeds)))
        warm = _warm_starts(X, y, widths) if args.warm_start else None
        res = smoothest_fit(fam, X, y, target, warm_start=warm, progress=False, **budget)
        seconds = time.perf_counter() - start
        name = (
            f"BelowNoise(eps={args.eps}) (MSE <= {res.threshold:g})"
            if isinstance(target, BelowNoise)
            else f"Interpolate(tol={args.tol:g})"
        )
        print(f"## {name} ({seconds:.0f} s, {res.candidates.B} candidates)\n")
        print(
            "| k | seeds fitting | certified upper (median) | min over seeds | bound "
            "| sampled lower (median) | path-norm floor (median) | sqrt(n/k) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        ks, values = [], []
        for k in widths:
            rows = [r for r in res.best if r["width"] == k and not r["warm_start"]]
            fitting = [r for r in rows if r["fits"]]
            if not fitting:
                print(f"| {k} | 0/{len(rows)} | - | - | - | - | - | {math.sqrt(n / k):.2f} |")
                continue
            ups = [r["upper"] for r in fitting]
            names = sorted({r["upper_name"] for r in fitting})
            lows = [r["lower_sampled"] for r in fitting]
            floors = [r["upper_path_norm"] / (2 * math.sqrt(d)) for r in fitting]
            print(
                f"| {k} | {len(fitting)}/{len(rows)} | {np.median(ups):.3f} | {min(ups):.3f} "
                f"| {', '.join(names)} | {np.median(lows):.3f} | {np.median(floors):.3f} "
                f"| {math.sqrt(n / k):.2f} |"
            )
            if n / d <= k <= n:
                ks += [k] * len(ups)
                values += ups
        warm_rows = [r for r in res.best if r["warm_start"]]
        if warm_rows:
            print("\nfrom explicit interpolants (warm starts; each construction is a candidate):\n")
            print("| k | start | fits | certified upper | bound | penalty (strength) | lower |")
            print("|---|---|---|---|---|---|---|")
            for r in warm_rows:
                print(
                    f"| {r['width']} | {r['seed']} | {r['fits']} | {r['upper']:.3f} "
                    f"| {r['upper_name']} | {r['penalty']} ({r['strength']:g}) "
                    f"| {r['lower_sampled']:.3f} |"
                )
        slope, err, count = _slope(ks, values)
        print(
            f"\nlog-log slope of the certified upper bound vs k over n/d <= k <= n "
            f"({count} points): {slope:+.3f} +- {err:.3f} (standard error); the conjectured "
            "law sqrt(n/k) has slope -0.5\n"
        )
        by_penalty: dict[str, int] = {}
        for r in res.best:
            if r["fits"]:
                key = f"{r['penalty']} (strength {r['strength']:g})"
                by_penalty[key] = by_penalty.get(key, 0) + 1
        print(
            "chosen candidates by penalty: " + "; ".join(f"{k}: {v}" for k, v in by_penalty.items())
        )
        print()


if __name__ == "__main__":
    main()
