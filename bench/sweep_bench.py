"""Sweep benchmarks: driver overhead and Ray scaling, measured side by side in one run.

1. **Overhead**: the planner (expansion, hashing, grouping) and the store (registration and
   one transaction per batch) as a share of the run time of a demo-sized sweep (goal < 5%),
   plus the planner's rate on a large grid.
2. **Ray scaling**: the same CPU-bound sweep (two-layer networks trained with Adam for a
   fixed budget) on a local Ray with 1 and with 2 CPUs, torch pinned to 1 thread per task
   (goal: 2 workers >= 1.6x faster than 1), with the local executor (1 thread) for
   reference. Each configuration first runs warm-up batches so that its processes have
   imported torch before the clock starts; configurations are interleaved over repeats.

   The local executor with 2 torch threads is left out: with torch's default (active)
   OpenMP wait policy, 2 threads on 2 cores that other processes also use spin at every
   parallel region's barrier and run many times slower than 1 thread (``--threads 1`` or
   ``OMP_WAIT_POLICY=PASSIVE`` avoid it).

Timings are wall-clock on a shared machine and noisy; ratios are measured in one run.

Usage: ``python bench/sweep_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from robustlaw.sweep import (
    LocalExecutor,
    RayExecutor,
    expand,
    group,
    load,
    parse_spec,
    run_sweep,
)


def demo_specs(quick: bool) -> list[dict]:
    """Demo-sized sweeps of real trials: min-norm random-feature and NTK interpolators, and
    a small two-layer law grid trained with Adam (measured with the Lipschitz package's
    default bounds when its entry point is installed)."""
    import robustlaw.lipschitz

    methods = ["lower", "upper"] if hasattr(robustlaw.lipschitz, "estimate") else []
    seeds = [0, 1] if quick else [0, 1, 2, 3]
    return [
        {
            "name": "bench-demo-features",
            "experiment": "rf_ntk",
            "seeds": seeds,
            "zip": [["model.family", "model.widths"]],
            "data": {"distribution": "sphere", "n": 100, "d": 16},
            "model": {
                "family": ["random_features", "ntk"],
                "activation": ["tanh", "cos"],
                "widths": [[50, 200, 800, 3200], [4, 16, 64, 200]],
            },
            "lipschitz": {"methods": [], "test_points": 300},
        },
        {
            "name": "bench-demo-two-layer",
            "experiment": "two_layer_law",
            "seeds": seeds,
            "data": {"distribution": "sphere", "n": 100, "d": 10},
            "model": {"family": "two_layer", "widths": [5, 10, 20, 40, 80, 160]},
            "fit": {"target": "below_noise", "eps": 0.1, "steps": 500, "lr": 0.01},
            "lipschitz": {"methods": methods, "test_points": 100, "budget_seconds": 10},
        },
    ]


def cpu_bound_spec(quick: bool) -> dict:
    """Eight (four when quick) equal batches of two-layer Adam fits run to their budget.

    Each batch takes about 5 s of one core (quick: about 1.3 s), long against Ray's per-task cost
    (tens of milliseconds), so the comparison measures the executor's scaling, not its latency.
    """
    return {
        "name": "bench-scaling",
        "experiment": "universal_law",
        "seeds": list(range(4 if quick else 8)),
        "data": {"distribution": "sphere", "n": 200, "d": 10},
        "model": {"family": "two_layer", "widths": [64, 256]},
        "fit": {
            "target": "interpolate",
            "tol": 1e-300,  # never reached: every member runs its full budget
            "steps": 2500 if quick else 10000,
            "lr": 0.01,
        },
        "lipschitz": {"methods": [], "test_points": 100},
    }


def large_grid() -> dict:
    """A grid of 50 000 trials, to time the planner alone."""
    return {
        "name": "bench-grid",
        "experiment": "two_layer_law",
        "seeds": list(range(10)),
        "data": {"distribution": "sphere", "n": [100 * i for i in range(1, 26)], "d": [5, 10]},
        "model": {
            "activation": ["relu", "tanh"],
            "widths": [[2**i for i in range(1, 26)]],
        },
        "fit": {"target": ["interpolate", "below_noise"]},
    }


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def overhead(quick: bool, workdir: Path) -> None:
    import pandas  # noqa: F401  (imported before timing load())

    rows = []
    for raw in demo_specs(quick):
        spec = parse_spec(raw)
        store = workdir / f"{spec.name}.db"
        summary = run_sweep(spec, store=store, executor=LocalExecutor(), progress=False)
        start = time.perf_counter()
        frame = load(store)
        load_seconds = time.perf_counter() - start
        share = (summary.plan_seconds + summary.store_seconds) / summary.seconds
        rows.append(
            [
                spec.name,
                f"{summary.total} trials / {summary.batches} batches",
                f"{summary.seconds:.2f}",
                f"{summary.plan_seconds * 1e3:.1f}",
                f"{summary.store_seconds * 1e3:.1f}",
                f"{100 * share:.2f}%",
                f"{load_seconds * 1e3:.1f} ({len(frame)} rows)",
            ]
        )
    table(
        "Driver overhead on demo-sized sweeps (goal: planner + store < 5% of the run)",
        ["spec", "sweep", "run (s)", "planner (ms)", "store (ms)", "overhead", "load() (ms)"],
        rows,
    )
    grid = parse_spec(large_grid())
    start = time.perf_counter()
    trials = expand(grid)
    expand_seconds = time.perf_counter() - start
    start = time.perf_counter()
    batches = group(trials)
    group_seconds = time.perf_counter() - start
    table(
        "Planner alone on a large grid",
        ["trials", "batches", "expand (s)", "group (s)", "per trial (µs)"],
        [
            [
                f"{len(trials)}",
                f"{len(batches)}",
                f"{expand_seconds:.2f}",
                f"{group_seconds:.3f}",
                f"{1e6 * (expand_seconds + group_seconds) / len(trials):.1f}",
            ]
        ],
    )


def scaling(quick: bool, workdir: Path, repeat: int = 1) -> None:
    spec = parse_spec(cpu_bound_spec(quick))
    warm = parse_spec({**cpu_bound_spec(True), "name": "warm-up", "seeds": [100, 101]})
    warm_local = parse_spec({**cpu_bound_spec(True), "name": "warm-up", "seeds": [100]})
    configs = [
        ("local, 1 torch thread", lambda: LocalExecutor(threads=1)),
        ("ray, 1 CPU (1 thread/task)", lambda: RayExecutor(num_cpus=1, object_store_memory=10**8)),
        ("ray, 2 CPUs (1 thread/task)", lambda: RayExecutor(num_cpus=2, object_store_memory=10**8)),
    ]
    times: dict[str, list[float]] = {label: [] for label, _ in configs}
    summaries = {}
    runs = 0
    for _ in range(repeat):  # configurations interleaved, so load changes hit all of them
        for label, make in configs:
            executor = make()
            executor.start()
            try:
                # warm up: import torch (and its optimizer machinery) before timing
                run_sweep(
                    warm if isinstance(executor, RayExecutor) else warm_local,
                    store=workdir / f"warm-{runs}.db",
                    executor=executor,
                    progress=False,
                )
                start = time.perf_counter()
                summaries[label] = run_sweep(
                    spec, store=workdir / f"scaling-{runs}.db", executor=executor, progress=False
                )
                times[label].append(time.perf_counter() - start)
            finally:
                executor.close()
            runs += 1
    median = {label: statistics.median(values) for label, values in times.items()}
    one = median["ray, 1 CPU (1 thread/task)"]
    rows = [
        [
            label,
            f"{summaries[label].total} trials / {summaries[label].batches} batches",
            " / ".join(f"{t:.2f}" for t in times[label]),
            f"{median[label]:.2f}",
            f"{one / median[label]:.2f}x" if label.startswith("ray") else "—",
        ]
        for label, _ in configs
    ]
    table(
        "Ray scaling on a CPU-bound sweep (goal: 2 workers >= 1.6x faster than 1)",
        ["executor", "sweep", "wall per run (s)", "median (s)", "speed-up vs ray 1 CPU"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sweeps")
    parser.add_argument("--only", choices=("overhead", "scaling"), help="one part only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scaling configuration")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"cores available: {cores} (shared with other work: timings are noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "overhead"):
            overhead(args.quick, Path(tmp))
        if args.only in (None, "scaling"):
            scaling(args.quick, Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
