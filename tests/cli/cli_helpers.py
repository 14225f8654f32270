"""Helpers of the command-line tests: a small real spec, CSV files."""

from __future__ import annotations

import copy

import pandas as pd

#: A spec the built-in runners finish in a fraction of a second: random-feature members
#: fitted in closed form, measured by their gradient at the data.
FAST_SPEC = {
    "name": "fast",
    "experiment": "rf_ntk",
    "seeds": [0, 1],
    "data": {"distribution": "sphere", "n": 20, "d": 3},
    "model": {"family": "random_features", "activation": "relu", "widths": [5, 40]},
    "lipschitz": {"methods": [], "test_points": 5},
}


def merged(base: dict, **sections) -> dict:
    """``base`` with each section updated from ``sections`` (other keys replaced)."""
    out = copy.deepcopy(base)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def write_csv(path, X, y=None, label="y", header=True):
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if y is not None:
        frame[label] = y
    frame.to_csv(path, index=False, header=header)
    return path
