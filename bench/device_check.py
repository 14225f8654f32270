"""Device check: the demo, batched fitting and certified Lipschitz bounds on CUDA vs the CPU.

One prepared script for a machine with a CUDA GPU (about 5 minutes there; ``--tiny`` in
well under one). Each check runs on the CPU and, where torch sees CUDA, on the GPU; one
Markdown table at the end, one row per (check, device), with a result column ``ok``,
``FAILED`` or ``skipped`` (the CUDA rows on a machine without CUDA). Exit status 1 when a
row failed.

1. **demo** at tiny scale (and at default scale without ``--tiny``): the sweep with
   ``device = "cuda"`` against ``device = "cpu"``, each into a fresh store. The networks are
   trained from the same initialization, but GPU and CPU kernels round differently and
   training amplifies it, so the records agree within a tolerance, not bit for bit: the
   same trials fit (``fit_reached``), the median over trials of the relative difference of
   the certified upper bounds is at most :data:`LIP_TOLERANCE`, and every headline slope
   differs by at most :data:`SLOPE_TOLERANCE`; every certified interval holds
   (lower <= upper) on both devices.
2. **fit**: batched fitting of many two-layer networks against the naive per-network loop
   (one ``nn.Sequential`` and one Adam each), same initialization and steps, on the same
   device; networks per second, the final MSE of both sides (equal up to float32
   rounding, :data:`MSE_TOLERANCE`), and the useful-FLOP rate against the matmul peak
   measured on that device in the same run (``bench/fit_throughput.py``'s counts).
3. **lipschitz**: ``estimate`` with lower, upper and exact methods on a family whose
   tensors live on the device; certified values equal the CPU's (the methods compute in
   float64 on the host) and lower <= exact <= upper.

Usage::

    .venv/bin/python bench/device_check.py [--tiny] [--workers N]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fit_throughput import _peak_gflops, _useful_flops

#: Median relative difference of certified upper bounds allowed between devices.
LIP_TOLERANCE = 0.05
#: Largest difference of a headline slope between devices.
SLOPE_TOLERANCE = 0.1
#: Largest |MSE batched - MSE loop| (float32, same initialization and steps).
MSE_TOLERANCE = 1e-4
#: Relative agreement of certified bounds computed from the same weights on two devices.
SAME_WEIGHTS_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Row:
    check: str
    device: str
    result: str  # "ok", "FAILED" or "skipped"
    detail: str


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- demo


def _headline(records) -> dict[str, float]:
    from robustlaw.analysis.verdicts import assess
    from robustlaw.experiments import CATALOG

    out = {}
    for verdict in assess(records):
        if verdict.relation in CATALOG["demo"].headline and verdict.fit is not None:
            out[verdict.quantity] = float(verdict.fit.slope)
    return out


def demo_rows(scale: str, devices: list[str], workers: int | str, where: Path) -> list[Row]:
    from robustlaw.experiments import experiment_spec
    from robustlaw.sweep import load, run_sweep

    rows, frames = [], {}
    for device in devices:
        store = where / f"demo-{scale}-{device.replace(':', '')}.db"
        summary = run_sweep(
            experiment_spec("demo", scale),
            store=store,
            device=device,
            workers=workers,
            progress=False,
        )
        frame = load(store).sort_values("trial_hash").reset_index(drop=True)
        frames[device] = frame
        held = bool((frame["lip_lower"] <= frame["lip_upper"] * (1 + 1e-9)).all())
        ok = summary.failed == 0 and held
        rows.append(
            Row(
                f"demo {scale}: sweep",
                device,
                "ok" if ok else "FAILED",
                f"{summary.done} trials, {summary.failed} failed, {summary.seconds:.0f} s on "
                f"{summary.workers} processes; lower <= upper on every trial: {held}",
            )
        )
    if len(frames) < 2:
        for check in ("sweep", "cuda vs cpu"):
            rows.append(Row(f"demo {scale}: {check}", "cuda", "skipped", "no CUDA device"))
        return rows
    cpu, gpu = frames["cpu"], frames[devices[1]]
    same_fit = int((cpu["fit_reached"] == gpu["fit_reached"]).sum())
    rel = (gpu["lip_upper"] - cpu["lip_upper"]).abs() / cpu["lip_upper"].abs()
    slopes_cpu, slopes_gpu = _headline(cpu), _headline(gpu)
    gaps = {q: abs(slopes_cpu[q] - slopes_gpu.get(q, math.nan)) for q in slopes_cpu}
    ok = (
        same_fit == len(cpu)
        and float(rel.median()) <= LIP_TOLERANCE
        and all(g <= SLOPE_TOLERANCE for g in gaps.values())
    )
    slope_text = ", ".join(
        f"{q.removeprefix('lip_')} {slopes_cpu[q]:.2f}/{slopes_gpu.get(q, math.nan):.2f}"
        for q in sorted(gaps)
    )
    rows.append(
        Row(
            f"demo {scale}: cuda vs cpu",
            devices[1],
            "ok" if ok else "FAILED",
            f"fit_reached equal on {same_fit}/{len(cpu)}; certified upper bound rel. "
            f"difference median {rel.median():.2g} (tolerance {LIP_TOLERANCE}), worst "
            f"{rel.max():.2g}; slopes cpu/cuda {slope_text} (tolerance {SLOPE_TOLERANCE})",
        )
    )
    return rows


# --------------------------------------------------------------------------- fit


def fit_row(device: str, tiny: bool) -> Row:
    import torch

    from robustlaw import data as rd
    from robustlaw.fitting import Interpolate, fit
    from robustlaw.models import TwoLayer

    n, d = (200, 10) if tiny else (1000, 20)
    widths = [16, 64] if tiny else [16, 64, 256, 1024]
    seeds = [0, 1] if tiny else [0, 1, 2, 3]
    steps = 20 if tiny else 100
    drawn = rd.sample("sphere", n=n, d=d, seed=0, labels="random_sign", dtype=torch.float32)
    X, y = drawn.X.to(device), drawn.y.to(device)
    family = TwoLayer(d, widths, seeds=seeds, dtype=torch.float32, device=device)
    modules = [family.member_module(i) for i in range(family.B)]
    fit(family, X, y, Interpolate(0.0), lr=1e-3, steps=2, progress=False)  # warm-up
    family = TwoLayer(d, widths, seeds=seeds, dtype=torch.float32, device=device)
    _sync(device)
    start = time.perf_counter()
    _, report = fit(family, X, y, Interpolate(0.0), lr=1e-3, steps=steps, progress=False)
    _sync(device)
    batched = time.perf_counter() - start
    start = time.perf_counter()
    loop_mse = []
    for module in modules:
        opt = torch.optim.Adam(module.parameters(), lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            ((module(X)[:, 0] - y) ** 2).mean().backward()
            opt.step()
        with torch.no_grad():
            loop_mse.append(float(((module(X)[:, 0] - y) ** 2).mean()))
    _sync(device)
    naive = time.perf_counter() - start
    gap = max(abs(a - b) for a, b in zip(report.mse.tolist(), loop_mse, strict=True))
    peak = _peak_gflops(torch.float32, size=1024 if tiny else 4096, device=device)
    member_widths = family.widths.tolist()
    rate = _useful_flops(member_widths, steps, n=n, d=d) / batched / 1e9
    ok = gap <= MSE_TOLERANCE
    return Row(
        "fit: batched vs naive loop",
        device,
        "ok" if ok else "FAILED",
        f"{family.B} networks, {steps} Adam steps: {naive / batched:.1f}x "
        f"({family.B / batched:.1f} vs {family.B / naive:.1f} networks/s); max MSE gap "
        f"{gap:.1e} (tolerance {MSE_TOLERANCE:g}); useful {rate:.3g} GFLOP/s = "
        f"{100 * rate / peak:.2g} % of the measured float32 matmul peak {peak:.3g} GFLOP/s",
    )


# --------------------------------------------------------------------------- lipschitz


def lipschitz_rows(devices: list[str]) -> list[Row]:
    import torch

    from robustlaw import data as rd
    from robustlaw.lipschitz import Budget, estimate
    from robustlaw.models import TwoLayer

    drawn = rd.sample("sphere", n=40, d=6, seed=1, labels="random_sign", dtype=torch.float64)
    reports = {}
    rows = []
    for device in devices:
        family = TwoLayer(6, [8, 12], seeds=[0], dtype=torch.float64, device=device)
        start = time.perf_counter()
        report = estimate(
            family,
            domain="rd",
            methods=["lower", "upper", "exact"],
            budget=Budget(seconds=5),
            X=drawn.X.to(device),
            seed=0,
        )
        seconds = time.perf_counter() - start
        reports[device] = report
        lower, upper, exact = (
            list(map(float, v)) for v in (report.lower, report.upper, report.exact)
        )
        ordered = all(
            lo <= up * (1 + 1e-9) and (math.isnan(ex) or lo <= ex * (1 + 1e-9) <= up * (1 + 2e-9))
            for lo, up, ex in zip(lower, upper, exact, strict=True)
        )
        text = "; ".join(
            f"[{lo:.4g}, {up:.4g}]" + ("" if math.isnan(ex) else f" exact {ex:.4g}")
            for lo, up, ex in zip(lower, upper, exact, strict=True)
        )
        detail = f"{family.B} members: {text}; lower <= exact <= upper: {ordered}"
        if device != "cpu":
            ref = reports["cpu"]
            worst = max(
                abs(a - b) / max(abs(a), abs(b))
                for a, b in zip(map(float, ref.upper), upper, strict=True)
            )
            ordered = ordered and worst <= SAME_WEIGHTS_TOLERANCE
            detail += f"; certified upper vs cpu: rel. {worst:.1e}"
        rows.append(
            Row(
                "lipschitz: lower, upper, exact",
                device,
                "ok" if ordered else "FAILED",
                f"{detail} ({seconds:.1f} s)",
            )
        )
    return rows


# --------------------------------------------------------------------------- main


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny demo and small grids")
    parser.add_argument("--workers", default="auto", help="local workers of the demo sweeps")
    args = parser.parse_args()
    workers = args.workers if args.workers == "auto" else int(args.workers)
    cuda = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    name = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"# Device check ({'tiny' if args.tiny else 'full'})\n")
    print(f"torch {torch.__version__}; CUDA device: {name}\n", flush=True)
    start = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="device-check-") as where:
        for scale in ["tiny"] if args.tiny else ["tiny", "default"]:
            rows += demo_rows(scale, devices, workers, Path(where))
    for device in devices:
        rows.append(fit_row(device, args.tiny))
    if not cuda:
        rows.append(Row("fit: batched vs naive loop", "cuda", "skipped", "no CUDA device"))
    rows += lipschitz_rows(devices)
    if not cuda:
        rows.append(Row("lipschitz: lower, upper, exact", "cuda", "skipped", "no CUDA device"))
    print("| check | device | result | detail |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.check} | {row.device} | {row.result} | {row.detail} |")
    failed = [row for row in rows if row.result == "FAILED"]
    skipped = [row for row in rows if row.result == "skipped"]
    print(
        f"\n{len(rows)} rows: {len(rows) - len(failed) - len(skipped)} ok, {len(failed)} failed, "
        f"{len(skipped)} skipped{' (no CUDA here)' if skipped else ''}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
