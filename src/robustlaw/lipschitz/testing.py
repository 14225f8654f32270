"""The contract every Lipschitz method keeps, runnable on any registered method.

:func:`check_method` runs all of it on a method of :data:`~robustlaw.lipschitz.METHODS`
(a built-in one or one registered by :func:`~robustlaw.lipschitz.register_method`) and
raises :class:`AssertionError` naming the first violation:

- bound ordering on random small nets: every lower <= brute-force Lip <= every upper
  (d <= 3 on R^d; the circle for d = 2 on the sphere; the ball below R^d);
- witness validity: the value recomputed at the witness is the reported lower bound;
- batch = loop: a family's result equals its members' results one by one;
- deep stacks and smooth activations: lower bounds below the certified upper bounds;
- bad input: NaN weights, an unknown domain, a bad budget raise ValueError / TypeError.

The ground truth is brute force, independent of the search code: every activation
pattern s in {0, 1}^k is listed, sorted by ||g(s)||, and the first whose region has an
interior point (the engine's margin LP, :func:`robustlaw._pl.chebyshev`) is the maximum
over R^d; on the circle the tangential derivative is maximized arc by arc in closed form.
The test suite runs each check on every built-in method (tests/lipschitz/test_contract.py).
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from robustlaw._pl import RegionSearchSettings, chebyshev
from robustlaw.lipschitz.domain import in_domain, witness_value
from robustlaw.lipschitz.result import METHODS, Budget, MethodResult
from robustlaw.models import TwoLayer

__all__ = [
    "LIGHT_OPTIONS",
    "brute_force_circle",
    "brute_force_rd",
    "check_bad_input",
    "check_ball",
    "check_batch_equals_loop",
    "check_bracket_rd",
    "check_circle",
    "check_deep_stacks",
    "check_method",
    "check_smooth_activations",
    "pattern_maximum",
    "random_family",
]

#: Light options of the built-in methods, so that the whole contract runs in seconds.
LIGHT_OPTIONS: dict[str, dict[str, Any]] = {
    "ascent": {"steps": 8, "n_starts": 8, "sharpness": (1.0, 10.0, 100.0)},
    "grad_random": {"n_points": 512},
    "grad_convex": {"n_points": 512},
    "pairs": {"n_short": 8},
    "region_search": {"settings": RegionSearchSettings(n_starts=4, n_random=8, max_lp=8)},
    "lipsdp": {"solver": "CLARABEL"},
}

REL = 1e-9  # float64 rounding allowance when comparing bounds


# --------------------------------------------------------------------------- ground truth


def random_family(
    d: int, widths: list[int], seed: int, activation: str = "relu", bias: bool = True
) -> TwoLayer:
    """A float64 family with N(0, 1) weights (scaled), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    B, k = len(widths), max(widths)
    W = torch.randn(B, k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    b = torch.randn(B, k, generator=gen, dtype=torch.float64) * 0.5 if bias else None
    a = torch.randn(B, k, generator=gen, dtype=torch.float64) / math.sqrt(k)
    mask = torch.zeros(B, k, dtype=torch.bool)
    for i, w in enumerate(widths):
        mask[i, :w] = True
    return TwoLayer.from_tensors(W, a, b, activation=activation, mask=mask)


def _arrays(family: TwoLayer, member: int):
    w = family.effective_weights()
    keep = w.mask[member].numpy()
    W = w.W[member].numpy()[keep]
    a = w.a[member].numpy()[keep]
    b = np.zeros(len(W)) if w.b is None else w.b[member].numpy()[keep]
    return W, b, a, min(w.activation.slopes), max(w.activation.slopes)


def _realizable(W: np.ndarray, b: np.ndarray, s: np.ndarray, margin: float = 1e-9) -> bool:
    """Whether the region of pattern s has an interior point (margin LP)."""
    norms = np.linalg.norm(W, axis=1)
    live = norms > 0
    if (s[~live] != (b[~live] > 0)).any():  # a unit with w_l = 0 is constant
        return False
    if not live.any():
        return True
    sign = np.where(s, 1.0, -1.0)[live]
    Wn, bn = W[live] / norms[live, None], b[live] / norms[live]
    _, t = chebyshev(-(sign[:, None] * Wn), sign * bn)
    return t > margin


def brute_force_rd(family: TwoLayer, member: int) -> float:
    """Lip of a member on R^d: max over realizable patterns of ||g(s)|| (k <= 12)."""
    W, b, a, lo, hi = _arrays(family, member)
    pats = np.array(list(itertools.product([False, True], repeat=len(W))), dtype=bool)
    norms = np.linalg.norm((np.where(pats, hi, lo) * a) @ W, axis=1)
    for i in np.argsort(-norms):
        if _realizable(W, b, pats[i]):
            return float(norms[i])
    return 0.0


def pattern_maximum(family: TwoLayer, member: int) -> float:
    """max over all s in {lo, hi}^k of ||W^T diag(s) a|| (realizable or not)."""
    W, _, a, lo, hi = _arrays(family, member)
    pats = np.array(list(itertools.product([lo, hi], repeat=len(W))))
    return float(np.linalg.norm((pats * a) @ W, axis=1).max())


def brute_force_circle(family: TwoLayer, member: int) -> float:
    """Lip on the unit circle (d = 2): sup of |d/dtheta f(cos theta, sin theta)|."""
    W, b, a, lo, hi = _arrays(family, member)
    if W.shape[1] != 2:
        raise ValueError("brute_force_circle needs d = 2")
    R = np.linalg.norm(W, axis=1)
    phi = np.arctan2(W[:, 1], W[:, 0])
    cuts = [0.0, 2 * np.pi]
    for r, p, c in zip(R, phi, b, strict=True):
        if r > abs(c):
            gam = np.arccos(-c / r)
            cuts += [np.mod(p + gam, 2 * np.pi), np.mod(p - gam, 2 * np.pi)]
    best = 0.0
    for t0, t1 in itertools.pairwise(np.sort(np.array(cuts))):
        if t1 - t0 < 1e-12:
            continue
        mid = 0.5 * (t0 + t1)
        x = np.array([np.cos(mid), np.sin(mid)])
        g = (np.where(W @ x + b > 0, hi, lo) * a) @ W
        # g . t(theta) with t = (-sin, cos): A cos + B sin, A = g1, B = -g0
        A, Bc = g[1], -g[0]
        cands = [t0, t1]
        root = np.arctan2(Bc, A)  # maximum of A cos + B sin at theta = root (mod pi)
        cands += [th for th in (root, root + np.pi, root - np.pi, root + 2 * np.pi) if t0 < th < t1]
        best = max(best, max(abs(A * np.cos(th) + Bc * np.sin(th)) for th in cands))
    return float(best)


# --------------------------------------------------------------------------- checks


def _approx(a: float, b: float, rel: float, abs_: float) -> bool:
    """a equals b within max(rel |b|, abs_) (as pytest.approx; inf equals inf)."""
    return a == b or abs(a - b) <= max(rel * abs(b), abs_)


def _run(
    name: str, model: Any, domain: str, options: dict | None, X: Any = None, seconds: float = 30.0
) -> MethodResult:
    spec = METHODS[name]
    kwargs = dict(LIGHT_OPTIONS.get(name, {}) if options is None else options)
    if X is not None and "X" in inspect.signature(spec.fn).parameters:
        kwargs["X"] = X
    return spec.fn(model, domain, Budget(seconds=seconds), **kwargs)


def _data(d: int, n: int = 12, seed: int = 0) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


def _check_against(res: MethodResult, truth: np.ndarray) -> None:
    tol = REL * truth + 1e-12
    assert (res.lower <= truth + tol).all(), (res.method, "lower above Lip", res.lower, truth)
    assert (res.upper >= truth - tol).all(), (res.method, "upper below Lip", res.upper, truth)
    assert (res.lower <= res.upper * (1 + REL) + 1e-12).all(), (res.method, "lower > upper")


def _check_witnesses(res: MethodResult, model: Any, domain: str) -> None:
    for b, w in enumerate(res.witnesses or []):
        if w is None:
            continue
        assert in_domain(w.x, domain), (res.method, f"witness {b} outside {domain}")
        recomputed = witness_value(model, b, w, domain)
        assert _approx(recomputed, w.value, 1e-9, 1e-12), (res.method, b, recomputed, w.value)
        if res.kind == "lower":
            assert _approx(res.lower[b], recomputed, 1e-9, 1e-12), (res.method, "lower != witness")


def check_bracket_rd(
    name: str, d: int, k: int, seed: int, activation: str = "relu", bias: bool = True,
    options: dict | None = None,
) -> None:  # fmt: skip
    """On a random family of widths (k, max(1, k - 2)) in R^d: lower <= Lip <= upper, and
    every witness recomputes to its value."""
    fam = random_family(d, [k, max(1, k - 2)], seed, activation, bias)
    truth = np.array([brute_force_rd(fam, b) for b in range(fam.B)])
    res = _run(name, fam, "rd", options, X=_data(d, seed=seed))
    assert res.B == fam.B and len(res.status) == fam.B, (name, "one entry per member")
    _check_against(res, truth)
    _check_witnesses(res, fam, "rd")


def check_circle(name: str, seed: int, options: dict | None = None) -> None:
    """On the unit circle (d = 2): lower <= Lip <= upper, witnesses recompute."""
    fam = random_family(2, [5, 3], seed)
    truth = np.array([brute_force_circle(fam, b) for b in range(fam.B)])
    res = _run(name, fam, "sphere", options, X=_data(2, seed=seed))
    _check_against(res, truth)
    _check_witnesses(res, fam, "sphere")


def check_ball(name: str, options: dict | None = None) -> None:
    """On the ball: lower bounds below Lip on R^d, upper bounds above the lower bounds of
    random points and of region search, witnesses inside the ball."""
    fam = random_family(3, [6, 4], 3)
    rd = np.array([brute_force_rd(fam, b) for b in range(fam.B)])
    res = _run(name, fam, "ball", options, X=_data(3))
    assert (res.lower <= rd * (1 + REL) + 1e-12).all(), (name, "ball lower above Lip on R^d")
    _check_witnesses(res, fam, "ball")
    for other in ("grad_random", "region_search"):
        low = _run(other, fam, "ball", None).lower
        assert (low <= res.upper * (1 + REL) + 1e-12).all(), (name, f"upper below {other}")


def check_batch_equals_loop(name: str, options: dict | None = None) -> None:
    """A family's result equals its members' results one by one."""
    fam = random_family(3, [6, 3, 5], 11)
    X = _data(3, seed=4)
    whole = _run(name, fam, "rd", options, X=X)
    for b in range(fam.B):
        alone = _run(name, fam.select([b]), "rd", options, X=X)
        assert _approx(alone.lower[0], whole.lower[b], 1e-6, 1e-12), (name, b, "lower")
        assert _approx(alone.upper[0], whole.upper[b], 1e-6, 1e-12), (name, b, "upper")
        assert alone.status[0] == whole.status[b], (name, b, alone.status[0], whole.status[b])


def _deep_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    act = nn.ReLU()
    return nn.Sequential(nn.Linear(3, 6), act, nn.Linear(6, 5), act, nn.Linear(5, 1)).double()


def check_deep_stacks(name: str, options: dict | None = None) -> None:
    """On two deep ReLU stacks: lower bounds below every simple certified upper bound and
    upper bounds above the lower bounds of random points and ascent (methods that serve
    deep stacks only)."""
    if "mlp" not in METHODS[name].models:
        return
    nets = [_deep_net(0), _deep_net(1)]
    res = _run(name, nets, "rd", options, X=_data(3))
    assert res.B == 2, (name, "one entry per module")
    uppers = [METHODS[n].fn(nets, "rd", Budget()) for n in ("spectral", "averaged", "path_norm")]
    best_upper = np.min([u.upper for u in uppers], axis=0)
    assert (res.lower <= best_upper * (1 + REL)).all(), (name, "lower above a certified upper")
    if res.kind == "upper":
        lows = [_run(n, nets, "rd", None, X=_data(3)).lower for n in ("grad_random", "ascent")]
        assert (np.max(lows, axis=0) <= res.upper * (1 + REL)).all(), (name, "upper too low")
    _check_witnesses(res, nets, "rd")


def check_smooth_activations(name: str, options: dict | None = None) -> None:
    """On a tanh family: either not applicable (no bound at all) or ordered against the
    ascent lower bound and the pattern SDP upper bound."""
    fam = random_family(2, [4, 6], 5, activation="tanh")
    res = _run(name, fam, "rd", options, X=_data(2))
    if res.status[0].startswith("not_applicable"):
        assert np.isinf(res.upper).all() and (res.lower == 0).all(), (name, "n/a with a bound")
        return
    low = _run("ascent", fam, "rd", None, X=_data(2)).lower
    up = _run("pattern_sdp", fam, "rd", None).upper
    assert (res.lower <= up * (1 + REL)).all(), (name, "lower above the pattern SDP")
    assert (low <= res.upper * (1 + REL)).all(), (name, "upper below the ascent")


def _raises(fn: Callable[[], Any], kinds: tuple[type, ...], pattern: str, what: str) -> None:
    try:
        fn()
    except kinds as exc:
        assert re.search(pattern, str(exc)), (what, f"message {str(exc)!r} lacks {pattern!r}")
        return
    raise AssertionError((what, f"no {kinds} raised"))


def check_bad_input(name: str) -> None:
    """An unknown domain, a budget that is not a Budget, a negative budget and NaN
    weights raise ValueError / TypeError naming the problem."""
    fn = METHODS[name].fn
    fam = random_family(2, [3], 0)
    _raises(lambda: fn(fam, "torus", Budget()), (ValueError,), "domain", f"{name}: domain")
    _raises(lambda: fn(fam, "rd", "ten seconds"), (ValueError, TypeError), "", f"{name}: budget")
    _raises(lambda: fn(fam, "rd", Budget(seconds=-1.0)), (ValueError,), "budget", f"{name}: -1 s")
    with torch.no_grad():
        fam.W[0, 0, 0] = math.nan
    _raises(lambda: fn(fam, "rd", Budget()), (ValueError,), r"finite|NaN", f"{name}: NaN")


def check_method(name: str, options: dict | None = None, examples: int = 5, seed: int = 0) -> None:
    """Run the whole contract on the registered method ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`~robustlaw.lipschitz.METHODS`.
    options : dict, optional
        Keyword arguments of the method (default: :data:`LIGHT_OPTIONS` for built-in
        methods, none for others).
    examples : int
        Random nets of the R^d bracket (d in 1..3, k in 1..6, relu or leaky relu, with or
        without biases), drawn from ``seed``.

    Raises
    ------
    AssertionError
        At the first violation, naming the method and the check.
    KeyError
        When ``name`` is not registered.
    """
    if name not in METHODS:
        raise KeyError(f"no Lipschitz method {name!r} is registered; known: {sorted(METHODS)}")
    rng = np.random.default_rng(seed)
    for _ in range(examples):
        d, k, s = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(10_000))
        act = str(rng.choice(["relu", "leaky_relu"]))
        check_bracket_rd(name, d, k, s, act, bool(rng.integers(2)), options)
    for s in (0, 1):
        check_circle(name, s, options)
    check_ball(name, options)
    check_batch_equals_loop(name, options)
    check_deep_stacks(name, options)
    check_smooth_activations(name, options)
    check_bad_input(name)
