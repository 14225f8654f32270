"""robustlaw.data samplers: norms, moments, laws, metadata, reproducibility, bad input."""

from __future__ import annotations

import hashlib
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import robustlaw.data as rd
from robustlaw.data import distributions as dist

F64 = torch.float64

# name, params, E||x||^2 as a function of d, intrinsic dimension as a function of d
SPECS = [
    ("gaussian", {}, lambda d: 1.0, lambda d: d),
    ("gaussian", {"scale": 2.0}, lambda d: 4.0, lambda d: d),
    ("sphere", {}, lambda d: 1.0, lambda d: d - 1),
    ("ball", {}, lambda d: d / (d + 2), lambda d: d),
    ("hypercube", {}, lambda d: 1 / 12, lambda d: d),
    ("gaussian_mixture", {}, lambda d: 1.0, lambda d: d),
    ("perturbed", {"radius": 0.3}, lambda d: 1.0 + 0.09, lambda d: d),
    ("subspace", {"m": 4}, lambda d: 1.0, lambda d: 4),
    ("embedded_sphere", {"m": 4}, lambda d: 1.0, lambda d: 3),
    ("curved_manifold", {"m": 4}, lambda d: 1.0, lambda d: 4),
]


def _draw(name, n=20_000, d=16, seed=0, **params):
    return rd.sample(name, n=n, d=d, seed=seed, labels=None, dtype=F64, **params)


@pytest.mark.parametrize(("name", "params", "mean_sq", "intrinsic"), SPECS)
def test_mean_squared_norm_and_metadata(name, params, mean_sq, intrinsic):
    d = 16
    X, y, meta = _draw(name, d=d, **params)
    assert X.shape == (20_000, d) and X.dtype == F64 and y is None
    sq = (X**2).sum(dim=1).numpy()
    stderr = sq.std(ddof=1) / math.sqrt(sq.size)
    # E||x||^2 is known in closed form; the sample mean is within 5 standard errors of it.
    assert abs(sq.mean() - mean_sq(d)) <= 5 * stderr + 1e-12
    assert meta.intrinsic_dim == intrinsic(d)
    assert meta.n == 20_000 and meta.d == d and meta.distribution == name
    assert meta.isoperimetry_c is not None and meta.isoperimetry_c > 0
    assert meta.labels is None and meta.noise_level is None


@pytest.mark.parametrize("name", ["gaussian", "sphere", "ball", "hypercube"])
def test_isotropic_laws_have_zero_mean_and_scalar_covariance(name):
    d = 8
    X, _, _ = _draw(name, n=40_000, d=d)
    second = float((X**2).sum(dim=1).mean()) / d
    cov = torch.cov(X.T).numpy()
    # Entries of the empirical covariance fluctuate by about second * sqrt(2 / n).
    tol = 6 * second * math.sqrt(2 / X.shape[0])
    assert np.abs(cov - second * np.eye(d)).max() <= tol
    assert np.abs(X.mean(dim=0).numpy()).max() <= 6 * math.sqrt(second / X.shape[0])


def test_gaussian_law():
    d = 12
    X, _, meta = _draw("gaussian", d=d, scale=0.5)
    # d ||x||^2 / scale^2 ~ chi^2_d
    values = (d * (X**2).sum(dim=1) / 0.25).numpy()
    assert stats.kstest(values, stats.chi2(d).cdf).pvalue > 1e-3
    assert meta.isoperimetry_c == 0.25


def test_sphere_law():
    d = 7
    X, _, meta = _draw("sphere", d=d)
    assert torch.allclose(X.norm(dim=1), torch.ones(X.shape[0], dtype=F64), atol=1e-14)
    # x_1^2 ~ Beta(1/2, (d-1)/2) on the uniform sphere
    assert stats.kstest(X[:, 0].numpy() ** 2, stats.beta(0.5, (d - 1) / 2).cdf).pvalue > 1e-3
    assert (meta.intrinsic_dim, meta.isoperimetry_c) == (d - 1, 1.0)
    assert meta.isoperimetry_c_ambient == pytest.approx(d / (d - 1))


def test_ball_law():
    d = 5
    X, _, meta = _draw("ball", d=d)
    norms = X.norm(dim=1).numpy()
    assert norms.max() <= 1.0
    # P(||x|| <= r) = r^d, so ||x||^d is uniform on [0, 1]
    assert stats.kstest(norms**d, "uniform").pvalue > 1e-3
    assert meta.isoperimetry_c == pytest.approx(d / (d + 1))


def test_hypercube_law():
    d = 9
    X, _, meta = _draw("hypercube", d=d)
    half = 0.5 / math.sqrt(d)
    assert float(X.abs().max()) <= half
    # Diameter 1: opposite corners are 1 apart; each coordinate is uniform on [-half, half].
    assert math.sqrt(d) * 2 * half == pytest.approx(1.0)
    assert stats.kstest(X[:, 3].numpy(), stats.uniform(-half, 2 * half).cdf).pvalue > 1e-3
    assert meta.isoperimetry_c == pytest.approx(1 / (2 * math.pi))


def test_mixture_components_and_weights():
    d, n = 10, 20_000
    X, _, meta = _draw("gaussian_mixture", n=n, d=d, components=2, weights=[0.2, 0.8])
    assert meta.components == 2 and meta.isoperimetry_c == pytest.approx(0.25)
    radius = math.sqrt(1 - 0.25)
    assert meta.params["radius"] == pytest.approx(radius)
    # The top principal direction separates the two components: mean gap radius sqrt(2).
    Xc = X - X.mean(dim=0)
    u = torch.linalg.svd(Xc, full_matrices=False).Vh[0]
    proj = (X @ u).numpy()
    cut = proj.mean()
    for _ in range(20):  # 1-D two-means: the cut moves to the midpoint of the two groups
        low, high = proj[proj < cut], proj[proj >= cut]
        cut = (low.mean() + high.mean()) / 2
    assert abs(high.mean() - low.mean()) == pytest.approx(radius * math.sqrt(2), rel=0.02)
    share = min(low.size, high.size) / n
    assert abs(share - 0.2) <= 5 * math.sqrt(0.2 * 0.8 / n)


def test_perturbed_constant_hand_computed():
    _, _, meta = _draw("perturbed", n=10, d=8, radius=0.25)
    expected = (1 + 2 * 0.25 * math.sqrt(8 / (2 * math.log(2)))) ** 2
    assert meta.isoperimetry_c == pytest.approx(expected, rel=1e-12)
    _, _, default = _draw("perturbed", n=10, d=16)
    assert default.params["radius"] == pytest.approx(0.5 / 4)


@pytest.mark.parametrize(("name", "rank"), [("subspace", 3), ("embedded_sphere", 3)])
def test_linear_manifolds_have_the_right_rank(name, rank):
    X, _, _ = _draw(name, n=500, d=12, m=3)
    singular = torch.linalg.svdvals(X)
    assert float(singular[rank - 1]) > 1.0
    assert float(singular[rank:].max()) < 1e-10
    if name == "embedded_sphere":
        assert torch.allclose(X.norm(dim=1), torch.ones(500, dtype=F64), atol=1e-13)


def test_curved_manifold_is_nonlinear_with_known_constant():
    m, d = 3, 12
    X, _, meta = _draw("curved_manifold", n=2000, d=d, m=m, amplitude=1.0, frequency=2.0)
    singular = torch.linalg.svdvals(X - X.mean(dim=0))
    # Not contained in an m-dimensional subspace (it spans 2m directions), but in 2m of them.
    assert float(singular[m]) > 1.0 and float(singular[2 * m :].max()) < 1e-10
    # c = (1 + 2 a^2 omega^2) / (1 + s) with s = a^2 (1 - exp(-2 omega^2) mean cos(2 phi)),
    # and mean cos(2 phi) lies in [-1, 1].
    top = 1 + 2 * 1.0 * 2.0**2
    spread = math.exp(-2 * 2.0**2)
    assert top / (1 + 1 + spread) <= meta.isoperimetry_c <= top / (1 + 1 - spread)


def test_reproducible_and_dtype_independent():
    a = rd.sample("curved_manifold", n=300, d=10, seed=7, m=3)
    b = rd.sample("curved_manifold", n=300, d=10, seed=7, m=3)
    c = rd.sample("curved_manifold", n=300, d=10, seed=8, m=3)
    e = rd.sample("curved_manifold", n=300, d=10, seed=7, m=3, dtype=F64)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, c.X)
    assert torch.allclose(a.X.to(F64), e.X, atol=1e-5)
    assert torch.equal(a.y.to(F64), e.y)


def _digest(name: str, **params) -> str:
    X, y, _ = rd.sample(name, n=64, d=6, seed=3, dtype=F64, **params)
    return hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest()


def test_reproducible_across_processes():
    cases = [("sphere", {}), ("gaussian_mixture", {"components": 3}), ("subspace", {"m": 2})]
    code = (
        "import torch, hashlib, json, sys; torch.set_num_threads(1);"
        "import robustlaw.data as rd;"
        "out = [];"
        "cases = json.loads(sys.argv[1]);\n"
        "for name, params in cases:\n"
        "    X, y, _ = rd.sample(name, n=64, d=6, seed=3, dtype=torch.float64, **params)\n"
        "    out.append(hashlib.sha256(X.numpy().tobytes() + y.numpy().tobytes()).hexdigest())\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout) == [_digest(name, **params) for name, params in cases]


def test_global_rng_untouched():
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002
    python_state = random.getstate()
    rd.sample(
        "gaussian_mixture",
        n=50,
        d=5,
        seed=1,
        labels="two_layer",
        label_params={"noise": "bernoulli"},
    )
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert random.getstate() == python_state


def test_labels_stream_independent_of_distribution():
    """Labels come from their own stream: the same seed gives the same random signs."""
    a = rd.sample("sphere", n=100, d=5, seed=4)
    b = rd.sample("hypercube", n=100, d=5, seed=4)
    assert torch.equal(a.y, b.y)
    assert a.meta.noise_level == 1.0 and a.meta.noise_level_kind == "exact"


def test_meta_round_trips_through_json():
    _, _, meta = rd.sample(
        "gaussian_mixture",
        n=20,
        d=6,
        seed=2,
        components=3,
        labels="linear",
        label_params={"noise_level": 0.3},
    )
    payload = json.loads(json.dumps(meta.to_dict()))
    assert rd.SampleMeta.from_dict(payload) == meta
    assert payload["label_params"]["flip_prob"] == pytest.approx(0.5 * (1 - math.sqrt(0.7)))
    with pytest.raises(ValueError, match="unknown SampleMeta fields"):
        rd.SampleMeta.from_dict({**payload, "extra": 1})
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        meta.n = 3  # type: ignore[misc]


def test_register_a_new_distribution():
    def two_points(n, d, generator, dtype, *, gap: float = 1.0):
        """Two points gap apart."""
        signs = torch.randint(2, (n, 1), generator=generator).to(dtype) * 2 - 1
        X = torch.zeros(n, d, dtype=dtype)
        X[:, :1] = signs * gap / 2
        return dist.Draw(X, 0, None, {"gap": gap})

    rd.register_distribution("two_points", two_points)
    try:
        X, _, meta = rd.sample("two_points", n=10, d=3, gap=2.0, labels=None)
        assert set(X[:, 0].tolist()) <= {-1.0, 1.0} and meta.isoperimetry_c is None
        assert rd.DISTRIBUTIONS["two_points"].summary == "Two points gap apart."
        with pytest.raises(ValueError, match="already registered"):
            rd.register_distribution("two_points", two_points)
    finally:
        del rd.DISTRIBUTIONS["two_points"]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(2, 12), seed=st.integers(0, 2**31))
def test_support_invariants(n, d, seed):
    sphere = rd.sample("sphere", n=n, d=d, seed=seed, labels=None, dtype=F64).X
    assert torch.allclose(sphere.norm(dim=1), torch.ones(n, dtype=F64), atol=1e-12)
    assert (
        float(rd.sample("ball", n=n, d=d, seed=seed, labels=None).X.norm(dim=1).max()) <= 1 + 1e-6
    )
    cube = rd.sample("hypercube", n=n, d=d, seed=seed, labels=None, dtype=F64).X
    assert float(cube.abs().max()) <= 0.5 / math.sqrt(d)
    y = rd.sample("gaussian", n=n, d=d, seed=seed).y
    assert set(y.tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "sphere", "n": 0, "d": 3}, "n must be"),
        ({"name": "sphere", "n": -5, "d": 3}, "n must be"),
        ({"name": "sphere", "n": 2.5, "d": 3}, "n must be"),
        ({"name": "sphere", "n": 10, "d": 0}, "d must be"),
        ({"name": "sphere", "n": 10, "d": 1}, "d must be >= 2"),
        ({"name": "torus", "n": 10, "d": 3}, "unknown distribution"),
        ({"name": "sphere", "n": 10, "d": 3, "m": 2}, "unknown parameter"),
        ({"name": "subspace", "n": 10, "d": 3}, "needs parameter"),
        ({"name": "subspace", "n": 10, "d": 3, "m": 4}, "m must lie in"),
        ({"name": "curved_manifold", "n": 10, "d": 5, "m": 3}, "d >= 2m"),
        ({"name": "embedded_sphere", "n": 10, "d": 5, "m": 1}, "m must lie in"),
        ({"name": "gaussian_mixture", "n": 10, "d": 3, "components": 4}, "components"),
        ({"name": "gaussian_mixture", "n": 10, "d": 3, "weights": [0.5, 0.6]}, "sum to 1"),
        ({"name": "gaussian_mixture", "n": 10, "d": 3, "spread": 1.0}, "spread"),
        ({"name": "gaussian", "n": 10, "d": 3, "scale": float("nan")}, "scale"),
        ({"name": "gaussian", "n": 10, "d": 3, "seed": -1}, "seed"),
        ({"name": "gaussian", "n": 10, "d": 3, "dtype": torch.int64}, "dtype"),
        ({"name": "gaussian", "n": 10, "d": 3, "device": "nowhere"}, "device"),
        ({"name": "gaussian", "n": 10, "d": 3, "labels": "psychic"}, "unknown label model"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rd.sample(**kwargs)


def test_describe_without_a_data_set():
    meta = rd.describe("embedded_sphere", d=30, m=7)
    assert (meta.intrinsic_dim, meta.isoperimetry_c, meta.d, meta.n) == (6, 1.0, 30, 1)
    assert rd.describe("gaussian_mixture", d=10, components=4).components == 4
