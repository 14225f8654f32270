"""The README's Python example runs as printed, and its commented values are the real ones."""

from __future__ import annotations

import math
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_example_runs_and_states_true_values():
    (code,) = _python_blocks()
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    b, data, est = namespace["b"], namespace["data"], namespace["est"]
    assert f"{b.value:.5f}" == "0.00716" and f"{b.heuristic:.1f}" == "31.6" and not b.valid
    assert tuple(data.X.shape) == (60, 8) and data.meta.noise_level == 1.0
    assert len(est.lower) == 4  # 2 widths x 2 seeds
    for low, up, exact in zip(est.lower, est.upper, est.exact, strict=True):
        assert 0 < low <= up * (1 + 1e-9)
        if not math.isnan(exact):
            assert math.isclose(low, exact, rel_tol=1e-6) and math.isclose(up, exact, rel_tol=1e-6)
