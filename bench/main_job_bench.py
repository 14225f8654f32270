"""The main job on one process against worker processes on every core (prints Markdown).

Runs the demo sweep (``robustlaw demo``'s trials, no report) twice in one run, each in a
fresh process writing a fresh store: once with ``workers = 1`` (every batch in the
driver's process, torch on every core) and once with one worker per available core
(``--workers``, default all). Printed: the CPU model, wall time of the sweep and of the
whole process, CPU time of the process and its children (``resource.getrusage``), CPU
utilization (CPU time / wall time; 200 % = two cores busy), the ratio of the two wall
times (goal >= 1.8x on 2 cores), whether the two stores hold the same records (every
field but timings, :mod:`robustlaw.sweep.compare`) and the headline slopes of both.

Methods stopped by a wall-clock budget (the demo's Lipschitz methods get 2 s per network)
reach what the machine's speed allows: where they run out of time, the two runs may
differ, and the fields and sizes of such differences are printed. Usage::

    .venv/bin/python bench/main_job_bench.py [--scale default|tiny] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = """
import json, sys
from robustlaw.experiments import experiment_spec
from robustlaw.sweep import run_sweep
summary = run_sweep(experiment_spec("demo", {scale!r}), store={store!r}, workers={workers},
                    progress=False)
print(json.dumps(summary.to_dict()))
"""


def cpu_model() -> str:
    """The CPU's model name (lscpu, else /proc/cpuinfo, else platform)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_demo(scale: str, store: Path, workers: int) -> dict:
    """One sweep in a fresh process: its summary, wall time and CPU time (with children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(scale=scale, store=str(store), workers=workers)],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"the sweep with workers = {workers} failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"summary": summary, "wall": wall, "cpu": cpu, "store": store}


def headline(store: Path) -> dict[str, str]:
    """The demo's headline slopes in a store: quantity -> "slope [low, high]"."""
    from robustlaw.analysis.verdicts import assess
    from robustlaw.experiments import CATALOG
    from robustlaw.sweep import load

    entry = CATALOG["demo"]
    out = {}
    for verdict in assess(load(store)):
        if verdict.relation in entry.headline and verdict.fit is not None:
            low, high = verdict.fit.slope_ci
            out[verdict.quantity] = f"{verdict.fit.slope:.2f} [{low:.2f}, {high:.2f}]"
    return out


def main() -> None:
    from robustlaw.sweep.executors import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default", choices=["default", "tiny"])
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--keep", type=Path, default=None, help="keep the two stores here")
    args = parser.parse_args()
    if args.workers < 2:
        sys.exit("--workers must be at least 2 (the other run has one process)")

    where = Path(tempfile.mkdtemp(prefix="main-job-bench-"))
    cores = available_cores()
    print(f"# Main job: demo sweep ({args.scale}), one process vs {args.workers} workers\n")
    print(f"CPU: {cpu_model()}; {cores} cores available to this process ({os.cpu_count()} online)")
    print(f"Python {platform.python_version()}, {platform.platform()}\n")
    runs = {
        1: run_demo(args.scale, where / "one.db", 1),
        args.workers: run_demo(args.scale, where / "workers.db", args.workers),
    }
    print("| run | processes | trials | sweep wall (s) | process wall (s) | CPU (s) | CPU use |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workers, run in runs.items():
        summary = run["summary"]
        label = "in one process (--workers 1)" if workers == 1 else f"--workers {workers}"
        print(
            f"| {label} | {summary['workers']} | {summary['done']} | {summary['seconds']:.1f} "
            f"| {run['wall']:.1f} | {run['cpu']:.1f} | {100 * run['cpu'] / run['wall']:.0f} % |"
        )
    one, many = runs[1], runs[args.workers]
    ratio = one["summary"]["seconds"] / many["summary"]["seconds"]
    goal = "met" if ratio >= 1.8 or cores > 2 else "NOT met"
    print(f"\nspeed-up of the sweep: {ratio:.2f}x (goal >= 1.8x on 2 cores: {goal})")

    from robustlaw.sweep.compare import compare_stores

    found = compare_stores(one["store"], many["store"])
    if not found:
        print("records: identical in every field (timings left out)")
    else:
        print(f"records: {len(found)} fields differ (timings left out); each: trials, max rel.")
        for diff in found[:40]:
            print(f"  {diff.field}: {diff.rows} trials, {diff.max_relative:.3g}")
        if len(found) > 40:
            print(f"  ... and {len(found) - 40} more")
    slopes = {workers: headline(run["store"]) for workers, run in runs.items()}
    print("\n| quantity | slope, one process | slope, workers | same |")
    print("| --- | --- | --- | --- |")
    for quantity in sorted(slopes[1]):
        a, b = slopes[1][quantity], slopes[args.workers].get(quantity, "—")
        print(f"| {quantity} | {a} | {b} | {'yes' if a == b else 'no'} |")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        for run in runs.values():
            shutil.copy(run["store"], args.keep / run["store"].name)
        print(f"\nstores kept in {args.keep}")
    shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
