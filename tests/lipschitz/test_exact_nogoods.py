"""No-goods learned from empty realizability LPs: soundness, propagation, exchange."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustlaw._pl import FEASIBLE_MARGIN as INFEASIBLE_MARGIN
from robustlaw._pl import RegionLP
from robustlaw._pl.nogoods import NoGoods

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _arrangement(d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W, rng.standard_normal(k)


def test_two_thresholds_on_the_line():
    """Units x > 0 and x > 1: 'x < 0 and x > 1' is empty. The LP of that pattern
    teaches exactly this no-good, which then forces each unit from the other."""
    W, b = np.array([[1.0], [1.0]]), np.array([0.0, -1.0])
    lp = RegionLP(W, b)
    lp.nogoods = NoGoods(2)
    assert lp.margin(np.array([-1, 1], dtype=np.int8)).empty
    assert len(lp.nogoods) == 1
    assert not lp.margin(np.array([1, -1], dtype=np.int8)).empty  # 0 < x < 1
    assert len(lp.nogoods) == 1
    sign, forced, empty = lp.nogoods.propagate(np.array([-1, 0], dtype=np.int8))
    assert sign.tolist() == [-1, -1] and forced.tolist() == [1] and not empty
    sign, forced, empty = lp.nogoods.propagate(np.array([0, 1], dtype=np.int8))
    assert sign.tolist() == [1, 1] and forced.tolist() == [0] and not empty
    assert lp.nogoods.propagate(np.array([-1, 1], dtype=np.int8))[2]
    unchanged = np.array([1, 0], dtype=np.int8)
    sign, forced, empty = lp.nogoods.propagate(unchanged)
    assert sign is unchanged and len(forced) == 0 and not empty


def _learn(
    W: np.ndarray, b: np.ndarray, rng: np.random.Generator, trials: int, ball: bool = False
) -> NoGoods:
    """No-goods from the LPs of random partial patterns (regions meeting the unit ball
    when ``ball``)."""
    k = len(W)
    lp = RegionLP(W, b, ball=ball)
    lp.nogoods = NoGoods(k)
    for _ in range(trials):
        sign = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=k, p=[0.4, 0.2, 0.4])
        lp.margin(sign)
    return lp.nogoods


def _nogood_rows(store: NoGoods) -> np.ndarray:
    packed, _ = store.export(0)
    if not len(packed):
        return np.zeros((0, store.k), dtype=np.int8)
    w = store.words
    on = np.array([np.unpackbits(r[:w].view(np.uint8), bitorder="little") for r in packed])
    off = np.array([np.unpackbits(r[w:].view(np.uint8), bitorder="little") for r in packed])
    return (on.astype(np.int8) - off.astype(np.int8))[:, : store.k]


@SETTINGS
@given(d=st.integers(1, 3), k=st.integers(3, 9), seed=st.integers(0, 10_000), ball=st.booleans())
def test_learned_nogoods_are_empty_and_propagation_follows_every_point(d, k, seed, ball):
    """Every learned no-good is empty (its own LP finds no margin, and none of 4000
    random points realizes it; on the ball: points of the ball, where certificates may
    use the ball's cuts); on partial patterns read off those points, propagation never
    reports an empty node and fixes every forced unit to the point's side."""
    W, b = _arrangement(d, k, seed)
    if ball:
        b = 0.5 * b  # hyperplanes through the ball
    rng = np.random.default_rng(seed + 1)
    store = _learn(W, b, rng, 60, ball)
    X = rng.standard_normal((4000, d))
    if ball:
        X *= (rng.random(4000) ** (1 / d) / np.linalg.norm(X, axis=1))[:, None]
    else:
        X *= 3.0
    S = np.where(X @ W.T + b > 0, 1, -1)
    lp = RegionLP(W, b, ball=ball)
    for row in _nogood_rows(store):
        assert lp.margin(row).t <= INFEASIBLE_MARGIN
        on = row != 0
        assert not np.any(np.all(S[:, on] == row[on], axis=1))
    for x_sign in S[:200]:
        keep = rng.random(k) < 0.6
        partial = np.where(keep, x_sign, 0).astype(np.int8)
        sign, forced, empty = store.propagate(partial)
        assert not empty
        assert np.array_equal(sign[forced], x_sign[forced])
        assert np.array_equal(sign[keep], partial[keep])


@SETTINGS
@given(d=st.integers(1, 3), k=st.integers(3, 9), seed=st.integers(0, 10_000))
def test_incremental_propagation_equals_full_propagation(d, k, seed):
    """Propagating only the rows of a newly fixed unit (and rows learned since) gives the
    pattern that checking every no-good gives."""
    W, b = _arrangement(d, k, seed)
    rng = np.random.default_rng(seed + 2)
    store = _learn(W, b, rng, 40)
    X = rng.standard_normal((50, d)) * 3.0
    for x in X:
        x_sign = np.where(W @ x + b > 0, 1, -1).astype(np.int8)
        order = rng.permutation(k)
        base = np.zeros(k, dtype=np.int8)
        base[order[: k // 2]] = x_sign[order[: k // 2]]
        base, _, _ = store.propagate(base)
        free = np.flatnonzero(base == 0)
        if not len(free):
            continue
        unit = int(free[0])
        child = base.copy()
        child[unit] = x_sign[unit]
        full = store.propagate(child)
        fast = store.propagate(child, np.array([unit]), len(store))
        assert np.array_equal(full[0], fast[0]) and full[2] == fast[2]


def test_exported_nogoods_propagate_alike_in_another_store():
    """A store that receives another's export propagates every pattern the same way,
    and re-exports nothing (received rows are not its own)."""
    W, b = _arrangement(3, 12, 7)
    rng = np.random.default_rng(0)
    source = _learn(W, b, rng, 200)
    target = NoGoods(12)
    packed, start = source.export(0)
    assert start == len(source) > 0
    assert target.receive(packed) == len(source)
    assert target.receive(packed) == 0  # known already
    assert len(target.export(0)[0]) == 0
    for _ in range(300):
        sign = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=12, p=[0.3, 0.4, 0.3])
        a, b_ = source.propagate(sign), target.propagate(sign)
        assert np.array_equal(a[0], b_[0]) and a[2] == b_[2]
