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

With ``--users`` it instead times whole :func:`robustlaw.lipschitz.estimate` calls (default
methods, torch's default threads): at the default budget on two small random nets, and on
the nets of :data:`USER_ROWS` (recipes in :data:`RECIPES`: plain Adam / SGD with momentum,
with and without weight decay, from PyTorch's default initialization, and the project's
own fitting, interpolating or below the noise level; seeds fixed in :data:`USER_SEEDS`)
at each row's whole-call budget, printing the certified interval, upper / lower, the goal,
the seconds asked and the seconds the whole call took, then per row the median and the
worst seed. ``--rows`` and ``--seeds`` run a subset; ``--readme A.json B.json ...`` prints
the README's table from the JSON of earlier runs.

Usage: python bench/lipschitz_bench.py [--quick] [--d D ...] [--k K ...] [--out FILE]
       [--lipsdp-seconds S] [--search-seconds S] [--exact-seconds S]
       [--exact-workers N] [--no-lipsdp] [--no-exact]
       python bench/lipschitz_bench.py --users [--rows KEY ...] [--seeds S ...]
       [--budget S] [--out FILE]
       python bench/lipschitz_bench.py --readme FILE.json ...

The exact solver gets 60 s and 2 processes per network by default (the machine's two
cores).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- as a user would


@dataclass(frozen=True)
class UserRow:
    """One row of the users' table: a recipe, its domains and the goal of each domain.

    ``goals`` maps a domain to the largest upper / lower the row asks for (0: proven, i.e.
    relative gap <= 1e-6); ``methods`` None runs :func:`estimate`'s default methods.
    """

    key: str
    recipe: str
    d: int
    k: int
    budget: float
    goals: dict[str, float]
    methods: tuple[str, ...] | None = None


#: The rows (issue table of the law-of-robustness toolkit's Lipschitz goals), fixed before
#: running, with their budgets for the whole call.
USER_ROWS = (
    UserRow("d10-adam", "adam-gauss", 10, 64, 60, {"rd": 1.05}),
    UserRow("d10-sgd-wd", "sgd-wd-gauss", 10, 64, 60, {"rd": 1.05}),
    UserRow("d10-sgd", "sgd-gauss", 10, 64, 60, {"rd": 1.05}),
    UserRow("d10-fit", "fit-interpolate", 10, 64, 60, {"rd": 1.05}),
    UserRow("d10-fit-noise", "fit-below-noise", 10, 64, 60, {"rd": 1.05}),
    UserRow("d32-k256", "adam-sphere", 32, 256, 60, {"rd": 1.05, "sphere": 1.1}),
    UserRow("d32-k1024", "adam-sphere", 32, 1024, 120, {"rd": 1.15, "sphere": 1.15}),
    UserRow("d3-exact", "adam-gauss-60", 3, 256, 10, {"rd": 0.0}, ("exact",)),
)
#: Seeds of every row, fixed before running.
USER_SEEDS = (0, 1, 2)

RECIPES = {
    "adam-gauss": "plain full-batch Adam (lr 3e-3, 3000 steps) from PyTorch's default init, "
    "random +-1 labels of 256 Gaussian points",
    "sgd-wd-gauss": "full-batch SGD, momentum 0.9, lr 1e-2, weight decay 5e-4, 3000 steps, "
    "same data",
    "sgd-gauss": "full-batch SGD, momentum 0.9, lr 1e-2, no weight decay, 3000 steps, same data",
    "fit-interpolate": "robustlaw.fitting.fit (TwoLayer, Adam) to MSE <= 1e-4 on random +-1 "
    "labels of 256 sphere points",
    "fit-below-noise": "robustlaw.fitting.fit to MSE <= sigma^2 - 0.5 (sigma^2 = 1: random +-1 "
    "labels) of 256 Gaussian points",
    "adam-sphere": "plain full-batch Adam (lr 3e-3, 3000 steps) from PyTorch's default init, "
    "random +-1 labels of 256 points of the sphere",
    "adam-gauss-60": "plain full-batch Adam (lr 3e-3, 2000 steps) from PyTorch's default init, "
    "random +-1 labels of 60 Gaussian points",
}


def _torch_net(d: int, k: int, X, y, optimizer: str, steps: int) -> tuple[torch.nn.Module, float]:
    net = torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.ReLU(), torch.nn.Linear(k, 1))
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    else:
        wd = 5e-4 if optimizer == "sgd-wd" else 0.0
        opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9, weight_decay=wd)
    loss = torch.zeros(())
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X).squeeze(1) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return net, float(loss.detach())


def _fitted(d: int, k: int, X, y, target, seed: int):
    from robustlaw import fitting

    fam = TwoLayer(d=d, widths=[k], seeds=[seed], dtype=torch.float64)
    fam, report = fitting.fit(fam, X.double(), y.double(), target, progress=False)
    for p in fam.parameters():
        p.requires_grad_(False)
    return fam, float(report.members[0].mse)


def user_net(recipe: str, d: int, k: int, seed: int):
    """The net of ``recipe`` (see :data:`RECIPES`) for ``seed``: (model, X, train mse)."""
    from robustlaw.fitting import BelowNoise, Interpolate

    torch.manual_seed(seed)
    n = 60 if recipe == "adam-gauss-60" else 256
    X = torch.randn(n, d)
    if recipe in ("adam-sphere", "fit-interpolate"):
        X = X / X.norm(dim=1, keepdim=True)
    y = torch.randint(0, 2, (n,)).float() * 2 - 1
    if recipe == "fit-interpolate":
        return (*_fitted(d, k, X, y, Interpolate(tol=1e-4), seed), X)
    if recipe == "fit-below-noise":
        return (*_fitted(d, k, X, y, BelowNoise(eps=0.5, noise_level=1.0), seed), X)
    optimizer = recipe.split("-gauss")[0].split("-sphere")[0]
    steps = 2000 if recipe == "adam-gauss-60" else 3000
    net, mse = _torch_net(d, k, X, y, optimizer, steps)
    for p in net.parameters():
        p.requires_grad_(False)
    return net, mse, X


def estimate_row(label: str, net, X, domain: str, budget, methods=None) -> dict:
    """One whole `estimate` call: interval, ratio, seconds asked and used."""
    start = time.perf_counter()
    kwargs = {} if methods is None else {"methods": methods}
    rep = L.estimate(net, domain=domain, budget=budget, X=X, progress=False, **kwargs)
    used = time.perf_counter() - start
    asked = (budget or L.DEFAULT_BUDGET).seconds
    slowest = max(rep.results.values(), key=lambda r: float(r.seconds.sum()))
    exact = rep.results.get("exact")
    return {
        "net": label, "domain": domain, "lower": float(rep.lower[0]),
        "upper": float(rep.upper[0]), "ratio": float(rep.ratio[0]), "asked_s": asked,
        "used_s": used, "slowest": f"{slowest.method} {float(slowest.seconds.sum()):.1f} s",
        "proven": bool(np.isfinite(rep.exact[0])),
        "exact_processes": None if exact is None else exact.info[0].get("processes"),
        "methods": {n: [float(r.lower[0]), float(r.upper[0]), float(r.seconds[0]), r.status[0]]
                    for n, r in rep.results.items()},
    }  # fmt: skip


def met(row: dict) -> str:
    """Whether a row meets its goal: ratio (or proof) and the whole call within the budget."""
    goal = row.get("goal")
    if goal is None:
        return "—"
    fast = row["used_s"] <= row["asked_s"] * 1.02  # 2%: the last LP / process exit
    tight = row["proven"] if goal == 0 else row["ratio"] <= goal
    return "yes" if tight and fast else "NO"


def print_estimate_rows(rows: list[dict]) -> None:
    print(
        "| net | domain | certified interval | upper/lower | goal | asked s | whole call s "
        "| met | slowest |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        goal = r.get("goal")
        goal_cell = "—" if goal is None else ("exact" if goal == 0 else f"<= {goal:g}")
        print(
            f"| {r['net']} | {r['domain']} | [{r['lower']:.5g}, {r['upper']:.5g}] | "
            f"{r['ratio']:.4f}{' (exact)' if r.get('proven') else ''} | {goal_cell} | "
            f"{r['asked_s']:g} | {r['used_s']:.1f} | {met(r)} | {r['slowest']} |",
            flush=True,
        )


def print_summary(rows: list[dict]) -> None:
    """Per row of :data:`USER_ROWS` and domain: worst and typical (median) ratio and seconds."""
    print("\n| row | recipe | d | k | domain | goal | seeds | upper/lower median (worst) "
          "| whole call s median (worst) | met on every seed |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for spec in USER_ROWS:
        for domain, goal in spec.goals.items():
            group = [r for r in rows if r.get("row") == spec.key and r["domain"] == domain]
            if not group:
                continue
            ratios = [r["ratio"] for r in group]
            used = [r["used_s"] for r in group]
            goal_cell = "exact" if goal == 0 else f"<= {goal:g} in {spec.budget:g} s"
            proven = sum(r["proven"] for r in group)
            ratio_cell = f"{np.median(ratios):.4f} ({max(ratios):.4f})"
            if goal == 0:
                ratio_cell += f", proven {proven}/{len(group)}"
            print(
                f"| {spec.key} | {spec.recipe} | {spec.d} | {spec.k} | {domain} | {goal_cell} "
                f"| {','.join(str(r['seed']) for r in group)} | {ratio_cell} "
                f"| {np.median(used):.1f} ({max(used):.1f}) "
                f"| {'yes' if all(met(r) == 'yes' for r in group) else 'NO'} |"
            )


def run_users(args) -> None:
    """Default-budget rows (small random nets) and nets trained as a user would."""
    rows: list[dict] = []
    print(f"# CPU: {cpu_model()}; torch threads {torch.get_num_threads()}")
    if args.rows is None or "default" in args.rows:
        for d, k in ((5, 16), (10, 32)):
            torch.manual_seed(0)
            net = torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.ReLU(), torch.nn.Linear(k, 1))
            rows.append(estimate_row(f"default init d={d} k={k}", net, None, "rd", None))
            print_estimate_rows(rows[-1:])
    for spec in USER_ROWS:
        if args.rows is not None and spec.key not in args.rows:
            continue
        for seed in args.seeds:
            net, mse, X = user_net(spec.recipe, spec.d, spec.k, seed)
            label = f"{spec.key} seed={seed} (train mse {mse:.1e})"
            budget = Budget(seconds=args.budget or spec.budget)
            for domain, goal in spec.goals.items():
                row = estimate_row(label, net, X, domain, budget, spec.methods)
                row.update(row=spec.key, seed=seed, goal=goal, train_mse=mse)
                rows.append(row)
                print_estimate_rows(rows[-1:])
                args.out.write_text(json.dumps(rows, indent=1))
    print("\n# All rows (certified intervals; seconds are the whole estimate call)")
    print_estimate_rows(rows)
    print_summary(rows)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def print_readme_table(files: list[Path]) -> None:
    """The README's users' table from the JSON of one or more ``--users`` runs."""
    rows = [row for f in files for row in json.loads(f.read_text()) if "row" in row]
    print(f"# from {', '.join(str(f) for f in files)}")
    for key in RECIPES:
        print(f"- `{key}`: {RECIPES[key]}")
    print_summary(rows)


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
    parser.add_argument(
        "--users",
        action="store_true",
        help="instead of the grid: default-budget rows and nets trained as a user would",
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="whole-call budget (--users; default per row)"
    )
    parser.add_argument(
        "--rows",
        nargs="*",
        choices=["default", *(row.key for row in USER_ROWS)],
        help="--users: only these rows (default: all)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=list(USER_SEEDS), help="--users: seeds"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        nargs="*",
        help="print the README's users' table from the JSON of earlier --users runs",
    )
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.readme:
        print_readme_table(args.readme)
        return
    if args.users:  # as a user would: torch's default threads
        run_users(args)
        return
    torch.set_num_threads(1)  # small problems; oversubscribed cores only slow them down
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
