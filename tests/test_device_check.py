"""bench/device_check.py at its tiny size: every row of its table, CUDA rows skipped here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).parents[1] / "bench" / "device_check.py"
CHECKS = ("demo tiny: sweep", "fit: batched vs naive loop", "lipschitz: lower, upper, exact")


def test_device_check_tiny_prints_one_row_per_check_and_device():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny"], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert lines[0] == "| check | device | result | detail |"
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]
    table = {(check, device): (outcome, detail) for check, device, outcome, detail in rows}
    cuda = torch.cuda.is_available()
    for check in CHECKS:
        assert table[(check, "cpu")][0] == "ok", table[(check, "cpu")]
        assert table[(check, "cuda")][0] == ("ok" if cuda else "skipped")
    assert table[("demo tiny: cuda vs cpu", "cuda")][0] == ("ok" if cuda else "skipped")
    assert "0 failed" in table[("demo tiny: sweep", "cpu")][1]
    assert "lower <= exact <= upper: True" in table[("lipschitz: lower, upper, exact", "cpu")][1]
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{len(rows)} rows:" in summary and " 0 failed" in summary
