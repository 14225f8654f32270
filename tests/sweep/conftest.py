"""Shared set-up of the sweep tests: the toy runner is registered on import."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
sys.path.insert(0, str(Path(__file__).parent))

import sweep_toy_runner  # noqa: F401  (registers the "toy" runner)
