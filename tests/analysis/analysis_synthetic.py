"""Synthetic member records following the sweep store's column contract, with known laws."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustlaw import theory

#: Cell Lip -> member bounds: lower at a witness, certified upper, both with small noise.
LOWER_FACTOR = 0.75
UPPER_FACTOR = 1.4


def _member(base: dict, lip: float, gen: np.random.Generator, exact: bool, **extra) -> dict:
    lower = lip * LOWER_FACTOR * math.exp(gen.normal(0, 0.02))
    upper = lip * UPPER_FACTOR * math.exp(gen.normal(0, 0.02))
    row = {
        **base,
        "lip_lower": lip if exact else lower,
        "lip_upper": lip if exact else upper,
        "lip_upper_method": "exact" if exact else "spectral",
        "lip_exact": lip if exact else math.nan,
        "fit_seconds": float(gen.uniform(0.5, 2.0)),
        "lip_seconds": float(gen.uniform(0.1, 1.0)),
    }
    row.update(extra)
    return row


def two_layer_records(
    *,
    slope: float = 0.5,
    seeds: Sequence[int] = (0, 1, 2, 3, 4, 5),
    ns: Sequence[int] = (256, 512, 1024),
    d: int = 16,
    prefactor: float = 1.0,
    point_noise: float = 0.05,
    seed_noise: float = 0.1,
    members: int = 2,
    exact: bool = False,
    rng: int = 0,
) -> pd.DataFrame:
    """Two-layer law records: inside n/d <= k <= n the smoothest fit has Lip = C (n/k)^slope.

    Outside the range the curve is flat (k > n: saturated at O(1); n/d/2 <= k < n/d: the
    value at k = n/d), and below n/d/2 no member fits. Every cell also holds one member that
    did not fit with a tiny Lipschitz constant, which the analysis must ignore.
    """
    gen = np.random.default_rng(rng)
    rows = []
    for seed in seeds:
        offset = gen.normal(0, seed_noise)
        for n in ns:
            low = int(math.log2(n / d)) - 2
            for e in range(low, int(math.log2(n)) + 3):
                k = 2**e
                noise = math.exp(offset + gen.normal(0, point_noise))
                ratio = min(max(n / k, 1.0), float(d))
                lip = prefactor * ratio**slope * noise
                fits = k >= n / d / 2
                base = {
                    "experiment": "two_layer_law",
                    "spec_name": "two-layer",
                    "trial_hash": f"h{seed}-{n}-{k}",
                    "status": "done",
                    "distribution": "sphere",
                    "labels": "random_sign",
                    "n": n,
                    "d": d,
                    "noise_level": 1.0,
                    "family": "two_layer",
                    "activation": "relu",
                    "width": k,
                    "p": theory.two_layer_param_count(d, k),
                    "seed": seed,
                    "target": "interpolate",
                    "eps": math.nan,
                }
                for j in range(members):
                    rows.append(
                        _member(
                            base,
                            lip * (1 + 0.5 * j),
                            gen,
                            exact,
                            fit_reached=fits,
                            train_mse=(1e-7 * gen.uniform() if fits else 0.3 * (1 - k * d / n)),
                        )
                    )
                rows.append(_member(base, lip * 0.05, gen, exact, fit_reached=False, train_mse=0.2))
    return pd.DataFrame(rows)


def universal_records(
    *,
    slope: float = -0.5,
    seeds: Sequence[int] = (0, 1, 2, 3, 4, 5),
    n: int = 512,
    d: int = 16,
    widths: Sequence[int] = (32, 64, 128, 256, 512),
    point_noise: float = 0.05,
    seed_noise: float = 0.1,
    rng: int = 1,
) -> pd.DataFrame:
    """Universal-law scan in p at fixed (n, d): Lip = (p / (n d))^slope · noise."""
    gen = np.random.default_rng(rng)
    rows = []
    for seed in seeds:
        offset = gen.normal(0, seed_noise)
        for k in widths:
            p = theory.two_layer_param_count(d, k)
            lip = (p / (n * d)) ** slope * math.exp(offset + gen.normal(0, point_noise))
            base = {
                "experiment": "universal_law",
                "spec_name": "universal-p",
                "trial_hash": f"u{seed}-{k}",
                "status": "done",
                "distribution": "gaussian",
                "labels": "random_sign",
                "n": n,
                "d": d,
                "noise_level": 1.0,
                "family": "two_layer",
                "activation": "relu",
                "width": k,
                "depth": 2,
                "p": p,
                "seed": seed,
                "target": "below_noise",
                "eps": 0.1,
            }
            rows.append(_member(base, lip, gen, False, fit_reached=True, train_mse=0.85))
    return pd.DataFrame(rows)


def rf_ntk_records(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n: int = 200,
    d: int = 20,
    ps: Sequence[int] = (200, 400, 800, 1600, 3200, 6400),
    rng: int = 2,
) -> pd.DataFrame:
    """Random features (flat sensitivity) and NTK (cos: sqrt(nd/p); tanh: plateau)."""
    gen = np.random.default_rng(rng)
    rows = []
    for seed in seeds:
        for family in ("random_features", "ntk"):
            for activation in ("tanh", "cos"):
                for p in ps:
                    if family == "ntk" and activation == "cos":
                        value = math.sqrt(n * d / p)
                    elif family == "ntk":
                        value = max(math.sqrt(n * d / p), 4.0)
                    else:
                        value = 6.0
                    rows.append(
                        {
                            "experiment": "rf_ntk",
                            "spec_name": "rf-ntk",
                            "trial_hash": f"r{seed}-{family}-{activation}-{p}",
                            "status": "done",
                            "distribution": "sphere",
                            "labels": "random_sign",
                            "n": n,
                            "d": d,
                            "noise_level": 1.0,
                            "family": family,
                            "activation": activation,
                            "width": p // (d if family == "ntk" else 1),
                            "p": p,
                            "seed": seed,
                            "target": "interpolate",
                            "eps": math.nan,
                            "fit_reached": True,
                            "train_mse": 0.0,
                            "sensitivity": value * math.exp(gen.normal(0, 0.05)),
                            "fit_seconds": 0.1,
                            "lip_seconds": 0.05,
                        }
                    )
    return pd.DataFrame(rows)


def construction_records(
    *, seeds: Sequence[int] = (0, 1, 2), ns: Sequence[int] = (64, 128, 256), d: int = 16
) -> pd.DataFrame:
    """Explicit interpolants: Baum-type with ceil(n/d) units, ReLU caps with 2n units."""
    gen = np.random.default_rng(3)
    rows = []
    for seed in seeds:
        for n in ns:
            for family, k, lip in (
                ("baum", math.ceil(n / d), math.sqrt(d) * 3.0),
                ("relu_caps", 2 * n, 2.0),
            ):
                base = {
                    "experiment": "constructions",
                    "spec_name": "constructions",
                    "trial_hash": f"c{seed}-{n}-{family}",
                    "status": "done",
                    "distribution": "sphere",
                    "labels": "random_sign",
                    "n": n,
                    "d": d,
                    "noise_level": 1.0,
                    "family": family,
                    "activation": "relu",
                    "width": k,
                    "p": theory.two_layer_param_count(d, k),
                    "seed": seed,
                    "target": "interpolate",
                    "eps": math.nan,
                }
                value = lip * math.exp(gen.normal(0, 0.05))
                rows.append(
                    _member(
                        base, value, gen, family == "relu_caps", fit_reached=True, train_mse=0.0
                    )
                )
    return pd.DataFrame(rows)


def all_records() -> pd.DataFrame:
    """Every experiment above plus a failed and a diverged member."""
    frames = [two_layer_records(), universal_records(), rf_ntk_records(), construction_records()]
    records = pd.concat(frames, ignore_index=True)
    extra = records.iloc[[0, 1]].copy()
    extra["status"] = ["failed", "diverged"]
    extra["lip_upper"] = [1e-9, 1e-9]
    return pd.concat([records, extra], ignore_index=True)
