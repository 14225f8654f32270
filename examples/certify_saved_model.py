"""Certify the Lipschitz constant of a model saved with torch.save.

Trains a small ReLU network (an ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers) to fit
random ±1 labels of points on the sphere, saves it with ``torch.save`` and loads it back as
any user's model would be, then brackets its Lipschitz constant on R^d and on the sphere:

- lower bounds are values at witness points (gradients at data, random and ascended
  points), recomputed in float64;
- upper bounds are certified (spectral product, path norm, averaged bound, pattern SDP, ...);
- for a two-layer ReLU network the exact solver returns Lip itself when its branch and bound
  closes within the budget, else the certified interval it reached.

Each method is printed with what kind of number it gives. Run
``python examples/certify_saved_model.py`` (under a minute), ``--model FILE`` to certify
your own saved ``nn.Sequential`` instead, or ``--tiny`` for a smoke run.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn

import robustlaw as rl


def train_and_save(path: Path, n: int, d: int, width: int, steps: int) -> torch.Tensor:
    """Fit a two-layer ReLU net to random labels on the sphere; save it; return the points."""
    data = rl.data.sample("sphere", n=n, d=d, seed=0, labels="random_sign", dtype="float32")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((model(data.X).squeeze(1) - data.y) ** 2).mean()
        loss.backward()
        optimizer.step()
    print(f"trained {width} ReLU units on n = {n} points in d = {d}: MSE {loss.item():.2e}")
    torch.save(model, path)
    return data.X


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a torch.save file of an nn.Sequential")
    parser.add_argument("--seconds", type=float, default=10.0, help="budget per method (10)")
    parser.add_argument("--out", type=Path, default=Path("tutorial-results"))
    parser.add_argument("--tiny", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    n, d, width, steps, seconds = 40, 8, 32, 1500, args.seconds
    if args.tiny:
        n, d, width, steps, seconds = 12, 4, 8, 200, 0.5
    if not (math.isfinite(seconds) and seconds > 0):
        parser.error(f"--seconds must be a positive number, got {seconds}")

    X = None
    path = args.model
    if path is None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "model.pt"
        X = train_and_save(path, n, d, width, steps)
    elif not path.is_file():
        parser.error(f"--model: no such file: {path}")
    model = torch.load(path, weights_only=False)  # a pickled module: load only files you trust
    budget = rl.lipschitz.Budget(seconds=seconds)
    for domain in ("rd", "sphere"):
        report = rl.lipschitz.estimate(
            model, domain=domain, methods=("lower", "upper", "exact"), budget=budget, X=X
        )
        print(f"\nLipschitz constant on {domain}:")
        for name, result in report.results.items():
            # every value is certified: lower bounds at a witness, upper bounds by a proof;
            # a method that gives no bound of a kind reports 0 (lower) or inf (upper)
            low, up = float(result.lower[0]), float(result.upper[0])
            value = {
                "lower": f"Lip >= {low:.4f}",
                "upper": f"Lip <= {up:.4f}" if math.isfinite(up) else "no bound",
                "exact": f"{low:.4f} <= Lip <= {up:.4f}",
            }[result.kind]
            status = result.status[0].split(":")[0]
            print(f"  {name:<14} {value:<28} {status:<15} {result.seconds[0]:6.2f} s")
        low, up = float(report.lower[0]), float(report.upper[0])
        exact = float(report.exact[0])
        line = f"  best: {low:.4f} <= Lip <= {up:.4f}  (upper/lower {up / low:.3f})"
        print(line + (f"; exact {exact:.4f} (proven)" if math.isfinite(exact) else ""))


if __name__ == "__main__":
    main()
