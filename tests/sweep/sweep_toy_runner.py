"""A small, real, deterministic runner used to test the sweep engine (kind "toy").

Per batch: X (n, d) Gaussian and ±1 labels from the trial's seed; per member of width k a
random ReLU feature map Z = relu(X Vᵀ) (V from (seed, k) only, so a member's numbers do
not depend on its batch) and the least-squares fit θ; records the training MSE, the
certified bound ‖θ‖·‖V‖_op on the Lipschitz constant of x ↦ θ·relu(Vx) and the gradient
norm at the first point (a lower bound). ``model.options`` switch on test behaviours:

- ``diverge``: widths whose members are reported as diverged;
- ``raise``: the runner raises (every member fails);
- ``sleep``: seconds to sleep per batch;
- ``log``: a file to which the hashes of every executed batch are appended;
- ``log_pid``: the same as ``hash@pid`` lines, naming the process that ran the batch;
- ``log``: a file to which every executed batch appends one line, its trial hashes;
- ``started``: a directory in which each executed batch creates a file named by the pid
  of the process running it (then waits ``sleep`` seconds as usual);
- ``crash_marker``: a file; when absent the runner creates it and kills its own process
  (SIGKILL), so the first attempt of the batch dies;
- ``crash_always``: the runner always kills its own process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch

import robustlaw
from robustlaw.sweep import RUNNERS, TrialOutcome, register_experiment, register_runner


def toy_member(seed: int, n: int, d: int, width: int) -> dict[str, float]:
    """The toy numbers of one member, computed alone (the reference for batch = loop)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.sign(torch.randn(n, generator=gen, dtype=torch.float64))
    V = torch.randn(
        width, d, generator=torch.Generator().manual_seed(1000 * seed + width), dtype=torch.float64
    )
    Z = torch.relu(X @ V.T)
    # gelsd: MKL's default driver (gelsy) is not reproducible run to run
    theta = torch.linalg.lstsq(Z, y[:, None], driver="gelsd").solution[:, 0]
    mse = float(((Z @ theta - y) ** 2).mean())
    upper = float(torch.linalg.norm(theta) * torch.linalg.matrix_norm(V, ord=2))
    active = (X[0] @ V.T > 0).to(torch.float64)
    lower = float(torch.linalg.norm(V.T @ (active * theta)))
    return {"train_mse": mse, "lip_upper": upper, "lip_lower": lower}


def toy_runner(batch, context):
    cfg = batch.config
    opts = cfg.model.options
    if opts.get("log"):
        with open(opts["log"], "a", encoding="utf-8") as fh:
            fh.write(" ".join(batch.hashes) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    if opts.get("log_pid"):
        with open(opts["log_pid"], "a", encoding="utf-8") as fh:
            fh.write("".join(f"{h}@{os.getpid()}\n" for h in batch.hashes))
            fh.flush()
            os.fsync(fh.fileno())
    if opts.get("started"):
        Path(opts["started"], str(os.getpid())).touch()
    marker = opts.get("crash_marker")
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    if opts.get("crash_always"):
        os.kill(os.getpid(), signal.SIGKILL)
    if opts.get("raise"):
        raise RuntimeError("toy runner asked to fail")
    if opts.get("sleep"):
        time.sleep(float(opts["sleep"]))
    diverge = set(opts.get("diverge", []))
    outcomes = []
    for trial in batch.trials:
        width = trial.config.model.width
        if width in diverge:
            outcomes.append(TrialOutcome(status="diverged", error="loss became NaN"))
            continue
        numbers = toy_member(cfg.seed, cfg.data.n, cfg.data.d, width)
        outcomes.append(
            TrialOutcome(
                status="done",
                metrics={
                    **numbers,
                    "lip_upper_method": "toy_product",
                    "lip_lower_method": "toy_gradient",
                    "p": width * cfg.data.d,
                    "fit_reached": numbers["train_mse"] < 1e-9,
                    "noise_level": 1.0,
                },
                fit={
                    "mse": numbers["train_mse"],
                    "threads": torch.get_num_threads(),
                    "package_file": robustlaw.__file__,
                },
                lipschitz={"upper": numbers["lip_upper"], "lower": numbers["lip_lower"]},
                fit_seconds=0.0,
                lip_seconds=0.0,
            )
        )
    return outcomes


if "toy" not in RUNNERS:
    register_runner("toy", toy_runner)
# the experiment labels of the sweep tests' specs
for _label in ("toy_check", "runner_check", "executor_check", "other_experiment"):
    register_experiment(_label)


def toy_spec(**overrides) -> dict:
    """A toy spec as a mapping (sections updated from ``overrides``)."""
    raw = {
        "name": "toy",
        "experiment": "toy_check",
        "kind": "toy",
        "seeds": [0, 1],
        "data": {"distribution": "gaussian", "n": [12, 20], "d": 3},
        "model": {"widths": [2, 5, 9]},
        # toy batches take milliseconds: worker processes are asked for where tested
        "run": {"workers": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw
