"""The smoothest interpolant of each width, by search mode: certified sphere-Lip vs k.

n points uniform on S^{d-1}, random +-1 labels, two-layer ReLU networks of the demo's widths
(scaled with n), interpolation (MSE <= 1e-4). For every (seed, width) each mode's
:func:`robustlaw.smoothest_fit` picks its smoothest fitting network, which is then measured as
the demo measures it: :func:`robustlaw.lipschitz.estimate` on the sphere with the methods
lower / upper / exact under a 2 s budget per network, combined with the search's own
certificate where it holds on the sphere. Every value printed is a certified upper bound on
Lip over the sphere (the bound named in the JSON records).

Modes, run side by side on the same data (seconds measured in one run):

- ``default``: the demo's search today (``mode="proxy"``, R^d penalties, penalty "averaged",
  strengths 0.01 and 0.1, 600 smoothing steps, 2000 fit and 300 polish steps, 2 stages);
- ``lean``: the same search with the lean default budgets (no budget given);
- ``domain``: the domain-aware proxy search (``domain="sphere"``, effort "quick");
- ``certified``: ``mode="certified"`` on the sphere with the same budgets as ``default``;
- ``construction``: the best explicit construction that fits in k units (cones, caps,
  grouped caps, memorizer), certified by its own interval on the sphere (no search).

Then per width: the median over seeds, the data floor (the least Lipschitz constant on the
sphere of any interpolant, exact), upper / floor of the best mode, and seconds per
(width, seed) of each mode (the batch's wall time over its widths). Last, the log-log slope
of the certified value against n/k over n/d <= k <= n per mode, with the seed-level
bootstrap interval of :func:`robustlaw.analysis.fit_power_law`.

Runs can be split (each appends its records to ``--out``) and tabulated later::

    .venv/bin/python bench/smoothest_frontier.py --n 100 --d 20 --seeds 0,1 --out f.jsonl
    .venv/bin/python bench/smoothest_frontier.py --table f.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import robustlaw as rl
from robustlaw.analysis import fit_power_law
from robustlaw.fitting import Interpolate, smoothest_fit
from robustlaw.fitting.warm_starts import construction_starts
from robustlaw.lipschitz import Budget, estimate
from robustlaw.models import TwoLayer

MODES = ("default", "lean", "domain", "certified")
DEMO = {
    "penalty": "averaged",
    "strengths": (0.01, 0.1),
    "steps": 600,
    "lr": 0.003,
    "fit_steps": 2000,
    "polish_steps": 300,
    "stages": 2,
}
LEAN = {"penalty": "averaged", "strengths": (0.01, 0.1), "lr": 0.003}
OPTIONS = {
    "default": {},
    "lean": {},
    "domain": {"domain": "sphere", "effort": "quick"},
    "certified": {"mode": "certified", "domain": "sphere"},
}
DEMO_WIDTHS = (3, 5, 7, 10, 14, 20, 28, 40, 80, 320)  # for n = 100


def widths_for(n: int) -> list[int]:
    """The demo's widths, scaled with n (n = 100 gives the demo's)."""
    return sorted({max(1, round(k * n / 100)) for k in DEMO_WIDTHS})


def _measure(family: TwoLayer, best: list[dict], X: torch.Tensor, seed: int) -> list[tuple]:
    """As the demo: estimate on the sphere, tightened by the search's certificate."""
    est = estimate(
        family, domain="sphere", methods=("lower", "upper", "exact"), budget=Budget(seconds=2),
        X=X, seed=seed,
    )  # fmt: skip
    out = []
    for i, row in enumerate(best):
        up, name = float(est.upper[i]), str(est.upper_method[i])
        if row["upper"] < up and row.get("upper_domain", "rd") in ("rd", "sphere"):
            up, name = float(row["upper"]), f"{row['upper_name']} (search)"
        out.append((up, name, float(est.lower[i])))
    return out


def run(n: int, d: int, seeds: list[int], modes: list[str], out: Path, widths: list[int]) -> None:
    for seed in seeds:
        data = rl.data.sample("sphere", n=n, d=d, seed=seed, labels="random_sign", dtype="float64")
        X, y = data.X, data.y
        floor = float(rl.data.separation(X, y, domain="sphere").interpolation_lipschitz)
        records = []
        built = construction_starts(X, y, widths)
        for i, m in enumerate(built.members if built is not None else []):
            k = int(m["width"])
            with torch.no_grad():
                fits = float(((built.select([i])(X) - y) ** 2).mean()) <= 1e-4
            up = m.get("construction_upper")
            if fits and up is not None and math.isfinite(up):
                records.append(("construction", k, up, m["construction_method"], None, 0.0))
        for mode in modes:
            fam = TwoLayer(d, widths, seeds=[seed], dtype=torch.float64)
            start = time.perf_counter()
            budgets = LEAN if mode == "lean" else DEMO
            res = smoothest_fit(
                fam, X, y, Interpolate(1e-4), progress=False, **budgets, **OPTIONS[mode]
            )
            seconds = (time.perf_counter() - start) / len(widths)
            for row, (up, name, low) in zip(
                res.best, _measure(res.family, res.best, X, seed), strict=True
            ):
                if row["fits"]:
                    records.append((mode, row["width"], up, name, low, seconds))
            print(f"[n={n} d={d} seed={seed}] {mode}: {seconds:.1f} s per width", file=sys.stderr)
        with out.open("a") as fh:
            for mode, k, up, name, low, sec in records:
                fh.write(json.dumps({
                    "n": n, "d": d, "seed": seed, "mode": mode, "k": k, "upper": up,
                    "upper_method": name, "lower": low, "floor": floor, "seconds": sec,
                }) + "\n")  # fmt: skip


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    cpu = _cpu()
    for n, d in sorted({(r["n"], r["d"]) for r in rows}):
        sub = [r for r in rows if (r["n"], r["d"]) == (n, d)]
        seeds = sorted({r["seed"] for r in sub})
        modes = [m for m in (*MODES, "construction") if any(r["mode"] == m for r in sub)]
        print(f"## n = {n}, d = {d}, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}); {cpu}\n")
        print(
            "certified upper bound on Lip over the sphere (median / worst over seeds; "
            "[fitting seeds])"
            "; seconds per (width, seed) of each search\n"
        )
        head = " | ".join(modes)
        secs = " | ".join(f"s/{m}" for m in modes if m != "construction")
        print(f"| k | n/k | {head} | data floor | best/floor | {secs} |")
        print("|" + "---|" * (4 + len(modes) + len(modes) - ("construction" in modes)))
        for k in sorted({r["k"] for r in sub}):
            cells, best = [], math.inf
            for m in modes:
                per_seed: dict[int, float] = {}  # the best construction of each seed
                for r in sub:
                    if r["k"] == k and r["mode"] == m:
                        per_seed[r["seed"]] = min(per_seed.get(r["seed"], math.inf), r["upper"])
                ups = list(per_seed.values())
                med = _median(ups)
                best = min(best, med) if ups else best
                cells.append(f"{med:.3f} / {max(ups):.3f} [{len(ups)}]" if ups else "-")
            floor = _median([r["floor"] for r in sub if r["mode"] != "construction"] or [math.nan])
            sec = [
                f"{_median([r['seconds'] for r in sub if r['k'] == k and r['mode'] == m]):.1f}"
                for m in modes
                if m != "construction"
            ]
            print(
                f"| {k} | {n / k:.2f} | {' | '.join(cells)} | {floor:.3f} | {best / floor:.2f} "
                f"| {' | '.join(sec)} |"
            )
        print()
        for m in (m for m in modes if m != "construction"):
            pts = [r for r in sub if r["mode"] == m and n / d <= r["k"] <= n]
            if len({r["seed"] for r in pts}) < 2 or len({r["k"] for r in pts}) < 3:
                continue
            fit = fit_power_law(
                [n / r["k"] for r in pts], [r["upper"] for r in pts], [r["seed"] for r in pts]
            )
            lo, hi = fit.slope_ci
            verdict = "consistent" if lo <= 0.5 <= hi else "inconsistent"
            print(
                f"- {m}: slope of Lip vs n/k over n/d <= k <= n = {fit.slope:.2f} "
                f"[{lo:.2f}, {hi:.2f}] (95% bootstrap over seeds), law 0.5: {verdict}"
            )
        print()


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, torch threads {torch.get_num_threads()}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--d", type=int, default=20)
    p.add_argument("--seeds", type=str, default="0,1,2,3,4")
    p.add_argument("--modes", type=str, default=",".join(MODES))
    p.add_argument("--out", type=Path, default=Path("smoothest_frontier.jsonl"))
    p.add_argument("--table", type=Path, help="print the table of a records file and stop")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--widths", type=str, default=None, help="comma-separated widths (default: the demo's)"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.table is not None:
        table(args.table)
        return
    modes = [m for m in args.modes.split(",") if m]
    bad = sorted(set(modes) - set(MODES))
    if bad:
        p.error(f"--modes: unknown mode(s) {bad} (known: {', '.join(MODES)})")
    try:
        widths = (
            widths_for(args.n) if args.widths is None else [int(w) for w in args.widths.split(",")]
        )
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error("--widths and --seeds take comma-separated integers")
    if not widths or min(widths) < 1:
        p.error("--widths must be positive integers")
    run(args.n, args.d, seeds, modes, args.out, sorted(set(widths)))
    table(args.out)


if __name__ == "__main__":
    main()
