"""Realizability LPs of the exact solver on the ball: the cut pool's trimming."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustlaw._pl import FEASIBLE_MARGIN, CutSettings, RegionLP

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(d=st.integers(2, 5), k=st.integers(4, 14), seed=st.integers(0, 10_000))
def test_trimmed_cut_pool_decides_like_the_full_pool(d, k, seed):
    """On the ball, keeping only the newest tangent cuts changes no decision: a partial
    pattern is empty with the trimmed pool exactly when it is with every cut kept, and
    each witness lies strictly inside the ball and its region."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    b = 0.6 * rng.standard_normal(k)
    signs = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(60, k), p=[0.35, 0.3, 0.35])
    outcomes, n_cuts = {}, {}
    for pool in (None, 1):
        lp = RegionLP(W, b, ball=True, cuts=CutSettings(pool=pool))
        results = [lp.margin(sign) for sign in signs]
        assert lp._lp.h.getNumRow() == 2 * k + len(lp.cuts)  # rows deleted with their cuts
        outcomes[pool], n_cuts[pool] = results, len(lp.cuts)
        for sign, res in zip(signs, results, strict=True):
            if res.witness:
                assert np.linalg.norm(res.x) < 1.0
                assert lp.point_margin(res.x, sign) > FEASIBLE_MARGIN
    if n_cuts[None] > 3 * d + 60:  # more than one margin call can add to a trimmed pool
        assert n_cuts[1] < n_cuts[None]
    for full, trimmed in zip(outcomes[None], outcomes[1], strict=True):
        assert full.empty == trimmed.empty
        assert full.witness == trimmed.witness
