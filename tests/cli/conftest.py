"""Shared pieces of the command-line tests: small real specs, saved networks, data files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from cli_helpers import FAST_SPEC, merged


@pytest.fixture
def write_spec(tmp_path):
    """``write_spec(name, **sections)`` -> path of a YAML spec derived from FAST_SPEC."""

    def write(name: str = "fast", **sections) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(merged(FAST_SPEC, name=name, **sections)))
        return str(path)

    return write


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """A two-layer ReLU net and a deeper MLP, saved whole with torch.save."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    two_layer = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1))
    mlp = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 1))
    torch.save(two_layer, folder / "two_layer.pt")
    torch.save(mlp, folder / "mlp.pt")
    return {"two_layer": folder / "two_layer.pt", "mlp": folder / "mlp.pt"}


@pytest.fixture(scope="session")
def points():
    """100 points in R^3 and ±1 labels."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(100, 3))
    return X, np.where(gen.random(100) < 0.5, 1.0, -1.0)
