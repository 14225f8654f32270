"""Throughput of batched fitting against the naive per-network loop (prints Markdown tables).

Reference grid: n = 1000 points uniform on the sphere S^19 (d = 20), random +-1 labels,
two-layer ReLU networks of widths k in {16, 32, ..., 1024} x 4 seeds (28 networks), Adam with
the same learning rate and step count on both sides. The naive side is the loop a paper
script would write: one ``nn.Sequential`` and one ``torch.optim.Adam`` per network, one
network after the other. Both sides start from identical weights (``member_module``).

Printed:

1. equal outcomes: final MSE per member of both sides in float64 (max difference);
2. throughput (networks trained per second, same steps) in float32 and float64, the
   useful-FLOP rate (FLOPs of the real, unpadded units: n k (4 d + 6) per member and step)
   as a fraction of the torch matmul peak measured in the same run, and the peak memory
   (max RSS of a fresh process running only that side);
3. the gradient path: the hand-derived two-layer pass (``analytic``, the default for ReLU
   and leaky ReLU) against autograd, in float32 and float64, with the useful-FLOP rate of each
   (best of ``--repeats`` alternating runs per path, against the best matmul peak measured
   in between);
4. the activation budget per evaluation chunk (``chunk_bytes``) against throughput;
5. Adam with torch's fused kernel against the unfused update.

Every measurement runs in its own subprocess, one after the other, with the same number of
intra-op threads (``--threads``, default 1: on a shared machine several threads per process
fight over the cores). Timings on a shared machine are noisy; ratios are measured side by
side in one run. Usage::

    .venv/bin/python bench/fit_throughput.py [--steps 100] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

WIDTHS = [16, 32, 64, 128, 256, 512, 1024]
SEEDS = [0, 1, 2, 3]
#: A second grid where per-network overhead dominates the naive loop: many small networks.
SMALL_WIDTHS = [16, 32]
SMALL_SEEDS = list(range(32))
N, D = 1000, 20


def _data(dtype):
    import torch

    try:
        from robustlaw import data as rd

        X, y, _ = rd.sample("sphere", n=N, d=D, seed=0, labels="random_sign", dtype=dtype)
    except (ImportError, AttributeError):  # the data package is optional here
        gen = torch.Generator().manual_seed(0)
        X = torch.randn(N, D, dtype=dtype, generator=gen)
        X = X / X.norm(dim=1, keepdim=True)
        y = torch.sign(torch.randn(N, dtype=dtype, generator=gen))
    return X, y


def _useful_flops(widths, steps, n=N, d=D):
    """FLOPs of the real (unpadded) units: n k (4 d + 6) per member and Adam step."""
    return sum(k * n * (4 * d + 6) for k in widths) * steps


def _peak_gflops(dtype, size=2048, reps=5, device="cpu"):
    """Best GFLOP/s of a size x size matmul on ``device`` (synchronized on CUDA)."""
    import torch

    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    a @ b
    sync()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def worker(args) -> dict:
    """One measurement in this process; returns a JSON-able dict."""
    import torch

    from robustlaw.fitting import Interpolate, fit
    from robustlaw.models import TwoLayer

    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    X, y = _data(dtype)
    widths_grid, seeds_grid = (
        (SMALL_WIDTHS, SMALL_SEEDS) if args.grid == "small" else (WIDTHS, SEEDS)
    )
    fam = TwoLayer(D, widths_grid, seeds=seeds_grid, dtype=dtype)
    widths = fam.widths.tolist()
    out: dict = {"kind": args.worker, "dtype": args.dtype, "steps": args.steps}
    if args.worker == "peak":
        out["peak_gflops"] = _peak_gflops(dtype)
        return out
    if args.worker == "naive":
        modules = [fam.member_module(i) for i in range(fam.B)]
        warm = fam.member_module(0)  # warm-up: first use of torch.optim imports a lot
        opt = torch.optim.Adam(warm.parameters(), lr=args.lr)
        for _ in range(2):
            opt.zero_grad()
            ((warm(X)[:, 0] - y) ** 2).mean().backward()
            opt.step()
        out["baseline_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        per_member = []
        mse = []
        start = time.perf_counter()
        for module in modules:
            t = time.perf_counter()
            opt = torch.optim.Adam(module.parameters(), lr=args.lr)
            for _ in range(args.steps):
                opt.zero_grad()
                loss = ((module(X)[:, 0] - y) ** 2).mean()
                loss.backward()
                opt.step()
            per_member.append(time.perf_counter() - t)
            with torch.no_grad():
                mse.append(((module(X)[:, 0] - y) ** 2).mean().item())
        out["seconds"] = time.perf_counter() - start
        out["member_seconds"] = per_member
    else:
        fit(fam, X, y, Interpolate(0.0), lr=args.lr, steps=2, progress=False)  # warm-up
        fam = TwoLayer(D, widths_grid, seeds=seeds_grid, dtype=dtype)
        out["baseline_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        fam, report = fit(
            fam,
            X,
            y,
            Interpolate(0.0),
            lr=args.lr,
            steps=args.steps,
            chunk_bytes=args.chunk_bytes,
            fused=None if args.fused == "auto" else args.fused == "on",
            analytic=None if args.analytic == "auto" else args.analytic == "on",
            progress=False,
        )
        out["seconds"] = time.perf_counter() - start
        out["member_seconds"] = [m.seconds for m in report.members]
        mse = report.mse.tolist()
    out["mse"] = mse
    out["widths"] = widths
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _rss(result: dict) -> str:
    """Peak RSS of the worker and its increase during training (after imports and data)."""
    grown = max(0.0, result["max_rss_mb"] - result["baseline_rss_mb"])
    return f"{result['max_rss_mb']:.0f} (+{grown:.0f} training)"


def run(kind: str, dtype: str, steps: int, threads: int, **extra) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", kind, "--dtype", dtype, "--steps", str(steps),
        "--threads", str(threads),
    ]  # fmt: skip
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--check-steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--quick", action="store_true", help="fewer configurations")
    p.add_argument(
        "--repeats", type=int, default=3, help="alternating runs per gradient path (best kept)"
    )
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    p.add_argument("--chunk-bytes", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--fused", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--grid", default="reference", help=argparse.SUPPRESS)
    p.add_argument("--analytic", default="auto", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    B = len(WIDTHS) * len(SEEDS)
    print(f"# Batched fitting throughput (n = {N}, d = {D}, widths {WIDTHS} x {len(SEEDS)} seeds)")
    print(f"\nthreads per process: {args.threads}; lr = {args.lr}; timings are wall-clock on a")
    print("possibly shared machine (noisy); ratios are measured side by side in this run.\n")

    # 1. equal outcomes in float64
    naive = run("naive", "float64", args.check_steps, args.threads, lr=args.lr)
    batched = run("batched", "float64", args.check_steps, args.threads, lr=args.lr)
    diff = max(abs(a - b) for a, b in zip(naive["mse"], batched["mse"], strict=True))
    print(f"## Equal outcomes (float64, identical initialization, {args.check_steps} Adam steps)\n")
    print(f"max |MSE_batched - MSE_naive| over {B} members: {diff:.2e} (required <= 1e-6)\n")

    # 2. throughput
    print(f"## Throughput ({args.steps} Adam steps per network)\n")
    print(
        "| dtype | naive (s) | batched (s) | networks/s naive | networks/s batched | speed-up "
        "| useful GFLOP/s batched | % of matmul peak | peak RSS naive (MB) "
        "| peak RSS batched (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    per_width_rows = []
    ceilings = []
    for dtype in ("float32",) if args.quick else ("float32", "float64"):
        peak = run("peak", dtype, 1, args.threads)["peak_gflops"]
        nv = run("naive", dtype, args.steps, args.threads, lr=args.lr)
        bt = run("batched", dtype, args.steps, args.threads, lr=args.lr)
        flops = _useful_flops(bt["widths"], args.steps)
        rate = flops / bt["seconds"] / 1e9
        print(
            f"| {dtype} | {nv['seconds']:.2f} | {bt['seconds']:.2f} | {B / nv['seconds']:.2f} "
            f"| {B / bt['seconds']:.2f} | **{nv['seconds'] / bt['seconds']:.2f}x** | {rate:.1f} "
            f"| {100 * rate / peak:.0f}% of {peak:.0f} | {_rss(nv)} | {_rss(bt)} |"
        )
        ceilings.append((dtype, nv["seconds"], flops / (peak * 1e9), flops / nv["seconds"] / 1e9))
        for k in WIDTHS:
            idx = [i for i, w in enumerate(bt["widths"]) if w == k]
            t_naive = sum(nv["member_seconds"][i] for i in idx)
            t_batch = sum(bt["member_seconds"][i] for i in idx)
            per_width_rows.append((dtype, k, t_naive, t_batch))
    print(
        "\nThe naive loop is compute-bound on the wide networks that carry most FLOPs, so a "
        "batched run cannot beat it by more than naive time / (useful FLOPs / matmul peak):\n"
    )
    for dtype, t_naive, t_ideal, rate_naive in ceilings:
        print(
            f"- {dtype}: naive loop at {rate_naive:.1f} useful GFLOP/s; at 100% of the matmul "
            f"peak the whole grid takes {t_ideal:.2f} s, a ceiling of {t_naive / t_ideal:.1f}x"
        )
    print("\n### Per width (time attributed to the members of each width)\n")
    print("| dtype | width | naive (s) | batched (s) | speed-up |")
    print("|---|---|---|---|---|")
    for dtype, k, t_naive, t_batch in per_width_rows:
        print(f"| {dtype} | {k} | {t_naive:.3f} | {t_batch:.3f} | {t_naive / t_batch:.2f}x |")

    # many small networks
    Bs = len(SMALL_WIDTHS) * len(SMALL_SEEDS)
    nv = run("naive", "float32", args.steps, args.threads, lr=args.lr, grid="small")
    bt = run("batched", "float32", args.steps, args.threads, lr=args.lr, grid="small")
    print(
        f"\n### Many small networks (widths {SMALL_WIDTHS} x {len(SMALL_SEEDS)} seeds = {Bs}, "
        f"float32, {args.steps} steps)\n"
    )
    print("| naive (s) | batched (s) | networks/s naive | networks/s batched | speed-up |")
    print("|---|---|---|---|---|")
    print(
        f"| {nv['seconds']:.2f} | {bt['seconds']:.2f} | {Bs / nv['seconds']:.1f} "
        f"| {Bs / bt['seconds']:.1f} | **{nv['seconds'] / bt['seconds']:.1f}x** |"
    )

    # 3. gradient path
    print(
        f"\n## Gradient path (reference grid, {args.steps} steps, best of {args.repeats} "
        "alternating runs per path)\n"
    )
    print(
        "| dtype | autograd (s) | analytic (s) | speed-up | useful GFLOP/s autograd "
        "| useful GFLOP/s analytic | % of matmul peak (autograd / analytic) |"
    )
    print("|---|---|---|---|---|---|---|")
    for dtype in ("float32",) if args.quick else ("float32", "float64"):
        peak = run("peak", dtype, 1, args.threads)["peak_gflops"]
        best: dict[str, dict] = {}
        for _ in range(args.repeats):  # alternate, so that a change of load hits both paths
            for path in ("off", "on"):
                res = run("batched", dtype, args.steps, args.threads, lr=args.lr, analytic=path)
                if path not in best or res["seconds"] < best[path]["seconds"]:
                    best[path] = res
            peak = max(peak, run("peak", dtype, 1, args.threads)["peak_gflops"])
        slow, fast = best["off"], best["on"]
        flops = _useful_flops(fast["widths"], args.steps)
        r_slow, r_fast = flops / slow["seconds"] / 1e9, flops / fast["seconds"] / 1e9
        print(
            f"| {dtype} | {slow['seconds']:.2f} | {fast['seconds']:.2f} "
            f"| **{slow['seconds'] / fast['seconds']:.2f}x** | {r_slow:.1f} | {r_fast:.1f} "
            f"| {100 * r_slow / peak:.0f}% / {100 * r_fast / peak:.0f}% of {peak:.0f} |"
        )

    # 4. chunk sizes
    sizes = [2**18, 2**20, 2**21, 2**23, 2**26] if not args.quick else [2**20, 2**21, 2**26]
    print(f"\n## Activation budget per evaluation chunk (float32, {args.steps} steps)\n")
    print("| chunk_bytes | batched (s) | useful GFLOP/s |")
    print("|---|---|---|")
    for size in sizes:
        bt = run("batched", "float32", args.steps, args.threads, lr=args.lr, chunk_bytes=size)
        rate = _useful_flops(bt["widths"], args.steps) / bt["seconds"] / 1e9
        print(f"| {size / 2**20:g} MiB | {bt['seconds']:.2f} | {rate:.1f} |")

    # 5. fused Adam
    print(f"\n## Adam update kernel (float32, {args.steps} steps)\n")
    print("| Adam | batched (s) |")
    print("|---|---|")
    for fused in ("on", "off"):
        bt = run("batched", "float32", args.steps, args.threads, lr=args.lr, fused=fused)
        name = "torch fused" if fused == "on" else "torch foreach (unfused)"
        print(f"| {name} | {bt['seconds']:.2f} |")


if __name__ == "__main__":
    main()
