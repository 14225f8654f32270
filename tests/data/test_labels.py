"""Label models: declared sigma^2 = E[Var(y|x)] against measured conditional variances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import robustlaw.data as rd
from robustlaw.data.labels import (
    RandomSign,
    Teacher,
    UserLabels,
    _truncated_normal,
    clipped_gaussian_moments,
    flip_prob_for_noise_level,
    resolve_label_model,
    truncated_gaussian_std,
    truncated_gaussian_variance,
)

F64 = torch.float64


@pytest.fixture(scope="module")
def points():
    return rd.sample("gaussian", n=80, d=8, seed=11, labels=None, dtype=F64).X


def _replicates(model, X, reps=1000):
    return torch.stack(
        [model.sample(X, torch.Generator().manual_seed(1000 + r)).y for r in range(reps)]
    )


def _measured_noise_level(ys):
    """Mean over points of the unbiased per-point variance across noise draws, and its
    standard error from the per-point fourth central moments."""
    reps = ys.shape[0]
    centered = ys - ys.mean(dim=0)
    per_point = (centered**2).sum(dim=0) / (reps - 1)
    m2 = (centered**2).mean(dim=0)
    m4 = (centered**4).mean(dim=0)
    var_of_var = (m4 - m2**2 * (reps - 3) / (reps - 1)).clamp_min(0) / reps
    n = ys.shape[1]
    return float(per_point.mean()), float(var_of_var.sum().sqrt() / n)


MODELS = [
    (RandomSign(), "exact"),
    (Teacher("linear", noise="flip", flip_prob=0.1, teacher_seed=5), "exact"),
    (Teacher("single_index", noise="flip", noise_level=0.5, teacher_seed=5), "exact"),
    (Teacher("single_index", noise="gaussian", noise_level=0.05, teacher_seed=5), "exact"),
    (Teacher("two_layer", noise="gaussian", noise_std=0.4, amplitude=0.3, teacher_seed=5), "exact"),
    (Teacher("two_layer", noise="clipped_gaussian", noise_std=0.5, teacher_seed=5), "monte_carlo"),
    (
        Teacher("linear", noise="clipped_gaussian", noise_std=0.3, amplitude=1.0, teacher_seed=5),
        "monte_carlo",
    ),
    (
        Teacher("two_layer", noise="bernoulli", amplitude=0.9, activation="tanh", teacher_seed=5),
        "monte_carlo",
    ),
    (Teacher("single_index", noise="none", link="cos", teacher_seed=5), "exact"),
]


@pytest.mark.parametrize(("model", "kind"), MODELS, ids=lambda m: repr(m)[:60])
def test_declared_noise_level_matches_measured(points, model, kind):
    labels = model.sample(points, torch.Generator().manual_seed(0))
    assert labels.noise_level_kind == kind
    assert float(labels.y.abs().max()) <= 1.0
    ys = _replicates(model, points)
    measured, stderr = _measured_noise_level(ys)
    # sigma^2 for these points is the mean of Var(y|x_i): the model states Var(y|x_i) exactly
    # (for "monte_carlo" models sigma^2 over mu is estimated by that mean, with its stderr).
    assert labels.noise_level == pytest.approx(float(labels.conditional_variance.mean()), abs=1e-12)
    assert abs(measured - labels.noise_level) <= 4 * stderr + 1e-12
    # the conditional means agree with the stated target E[y|x] point by point
    sd = ys.std(dim=0).clamp_min(1e-12)
    z = (ys.mean(dim=0) - labels.target).abs() / (sd / math.sqrt(ys.shape[0]))
    assert float(z.max()) < 5.0 or float(sd.max()) < 1e-12
    if kind == "monte_carlo":
        expected = float(labels.conditional_variance.std() / math.sqrt(points.shape[0]))
        assert labels.noise_level_stderr == pytest.approx(expected)
    else:
        assert labels.noise_level_stderr is None
        assert torch.allclose(
            labels.conditional_variance, torch.full_like(labels.y, labels.noise_level)
        )


def test_flip_formulas_hand_computed():
    assert flip_prob_for_noise_level(0.36) == pytest.approx(0.1)
    assert flip_prob_for_noise_level(1.0) == pytest.approx(0.5)
    assert flip_prob_for_noise_level(0.0) == 0.0
    model = Teacher("linear", noise="flip", flip_prob=0.25)
    assert model.params()["noise_level"] == pytest.approx(0.75)


def test_truncated_gaussian_variance_against_scipy():
    for std, a in [(0.1, 0.5), (0.3, 0.5), (1.0, 0.2), (5.0, 0.7), (1e-3, 0.9)]:
        law = stats.truncnorm(-a / std, a / std, scale=std)
        assert truncated_gaussian_variance(std, a) == pytest.approx(law.var(), rel=1e-9)
    # std -> infinity: the uniform law's a^2 / 3, without cancellation or underflow
    assert truncated_gaussian_variance(1e6, 0.5) == pytest.approx(0.25 / 3, rel=1e-9)
    assert truncated_gaussian_variance(1e300, 0.5) == pytest.approx(0.25 / 3, rel=1e-15)
    # both sides of the series switch at b = 1e-4 agree
    below = truncated_gaussian_variance(0.5 / 0.99e-4, 0.5)
    above = truncated_gaussian_variance(0.5 / 1.01e-4, 0.5)
    assert below == pytest.approx(above, rel=1e-10)
    # std -> 0: no truncation in float64
    assert truncated_gaussian_variance(1e-100, 0.5) == pytest.approx(1e-200, rel=1e-12)
    assert truncated_gaussian_variance(1e-3, 0.5) == pytest.approx(1e-6, rel=1e-12)
    for level in (1e-4, 0.02, 0.08):
        std = truncated_gaussian_std(level, 0.5)
        assert truncated_gaussian_variance(std, 0.5) == pytest.approx(level, rel=1e-10)


def test_clipped_gaussian_moments_against_quadrature():
    means = torch.tensor([-0.9, -0.2, 0.0, 0.5, 1.0], dtype=F64)
    for std in (0.05, 0.4, 2.0):
        target, var = clipped_gaussian_moments(means, std)
        for mu, t, v in zip(means.tolist(), target.tolist(), var.tolist(), strict=True):

            def clipped(z, mu=mu, std=std):
                return min(1.0, max(-1.0, mu + std * z)) * stats.norm.pdf(z)

            def clipped_sq(z, mu=mu, std=std):
                return min(1.0, max(-1.0, mu + std * z)) ** 2 * stats.norm.pdf(z)

            first = integrate.quad(
                clipped, -40, 40, limit=400, points=[(-1 - mu) / std, (1 - mu) / std]
            )[0]
            second = integrate.quad(
                clipped_sq, -40, 40, limit=400, points=[(-1 - mu) / std, (1 - mu) / std]
            )[0]
            assert t == pytest.approx(first, abs=1e-9)
            assert v == pytest.approx(second - first**2, abs=1e-9)


@pytest.mark.parametrize("std", [1e-3, 0.2, 1.0, 1e8])
def test_truncated_noise_has_the_truncated_normal_law(std):
    xi = _truncated_normal(20_000, std, 0.5, torch.Generator().manual_seed(0)).numpy()
    law = stats.truncnorm(-0.5 / std, 0.5 / std, scale=std)
    if std > 1e3:  # scipy's truncnorm is inaccurate here; the law is uniform to 1e-17
        law = stats.uniform(-0.5, 1.0)
    assert stats.kstest(xi, law.cdf).pvalue > 1e-3
    assert np.abs(xi).max() <= 0.5


def test_clipped_gaussian_limits_hand_computed():
    means = torch.tensor([-1.0, 0.0, 0.5, 1.0], dtype=F64)
    # tiny std: no clipping inside (Var = std^2); at +-1 half the mass sits on the boundary,
    # Var = std^2 (1/2 - 1/(2 pi)) and E[Y] = +-(1 - std / sqrt(2 pi))
    std = 1e-6
    target, var = clipped_gaussian_moments(means, std)
    half = 0.5 - 1 / (2 * math.pi)
    assert var.tolist() == pytest.approx([half * std**2, std**2, std**2, half * std**2], rel=1e-9)
    edge = 1 - std / math.sqrt(2 * math.pi)
    assert target.tolist() == pytest.approx([-edge, 0.0, 0.5, edge], abs=1e-15)
    # huge std: +-1 with probability 1/2 each, whatever the mean
    target, var = clipped_gaussian_moments(means, 1e300)
    assert target.tolist() == [0.0] * 4 and var.tolist() == [1.0] * 4
    assert clipped_gaussian_moments(means, 0.0)[1].tolist() == [0.0] * 4


def test_teacher_is_a_function_of_x_with_a_teacher_seed():
    X1 = rd.sample("sphere", n=30, d=6, seed=1, labels=None, dtype=F64).X
    X2 = rd.sample("sphere", n=40, d=6, seed=2, labels=None, dtype=F64).X
    model = Teacher("two_layer", noise="none", teacher_seed=9)
    gen = torch.Generator().manual_seed(0)
    joint = model.sample(torch.cat([X1, X2]), gen).y
    separate = torch.cat([model.sample(X1, gen).y, model.sample(X2, gen).y])
    assert torch.allclose(joint, separate, atol=1e-12)
    # Without a teacher seed, two draws use two different teachers.
    free = Teacher("two_layer", noise="none")
    first = free.sample(X1, torch.Generator().manual_seed(1)).y
    second = free.sample(X1, torch.Generator().manual_seed(2)).y
    assert not torch.allclose(first, second)


def test_linear_teacher_is_linear_inside_the_clip():
    X = rd.sample("gaussian", n=200, d=5, seed=0, labels=None, dtype=F64).X * 0.1
    model = Teacher("linear", noise="none", amplitude=1.0, teacher_seed=2)
    y = model.sample(X, torch.Generator()).y
    y2 = model.sample(2 * X, torch.Generator()).y
    inside = y2.abs() < 1
    assert torch.allclose(y2[inside], 2 * y[inside], atol=1e-12)


def test_random_sign_is_balanced():
    y = RandomSign().sample(torch.zeros(10_000, 3, dtype=F64), torch.Generator().manual_seed(3)).y
    assert set(y.unique().tolist()) == {-1.0, 1.0}
    assert abs(float((y > 0).double().mean()) - 0.5) <= 5 * math.sqrt(0.25 / 10_000)


@settings(max_examples=40, deadline=None)
@given(
    noise=st.sampled_from(["gaussian", "clipped_gaussian", "bernoulli", "none", "flip"]),
    amplitude=st.floats(0.0, 0.99),
    std=st.one_of(st.floats(0.0, 5.0), st.sampled_from([5e-324, 1e-300, 1e20, 1e300])),
    kind=st.sampled_from(["linear", "single_index", "two_layer"]),
    link=st.sampled_from(["clip", "tanh", "sign", "cos"]),
    scale=st.floats(0.01, 100.0),
)
def test_labels_always_in_unit_interval(noise, amplitude, std, kind, link, scale):
    extra = {
        "gaussian": {"noise_std": std},
        "clipped_gaussian": {"noise_std": std},
        "flip": {"flip_prob": min(0.5, std)},
    }.get(noise, {})
    model = Teacher(kind, noise=noise, amplitude=amplitude, link=link, **extra)
    X = rd.sample("gaussian", n=64, d=4, seed=0, labels=None, dtype=F64).X * scale
    labels = model.sample(X, torch.Generator().manual_seed(1))
    assert float(labels.y.abs().max()) <= 1.0
    assert labels.noise_level is not None and 0.0 <= labels.noise_level <= 1.0


def test_sample_with_label_models():
    _, _, meta = rd.sample(
        "sphere",
        n=50,
        d=4,
        labels="linear",
        label_params={"noise": "gaussian", "noise_level": 0.02},
    )
    assert meta.labels == "linear" and meta.noise_level == pytest.approx(0.02)
    assert meta.label_params["noise_std"] > 0 and meta.noise_level_kind == "exact"
    _, y_none, meta_none = rd.sample("sphere", n=50, d=4, labels=None)
    assert y_none is None and meta_none.noise_level is None
    user = UserLabels(np.linspace(-1, 1, 50), noise_level=0.3)
    _, y_user, meta_user = rd.sample("sphere", n=50, d=4, labels=user)
    assert torch.allclose(y_user.double(), torch.linspace(-1, 1, 50, dtype=F64), atol=1e-7)
    assert (meta_user.noise_level, meta_user.noise_level_kind) == (0.3, "given")
    _, _, unknown = rd.sample("sphere", n=3, d=4, labels="user", label_params={"y": [1, 0, -1]})
    assert unknown.noise_level is None and unknown.labels == "user"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Teacher("cubic"), "kind must be"),
        (lambda: Teacher("linear", noise="laplace"), "noise must be"),
        (lambda: Teacher("linear", link="erf", flip_prob=0.1), "link must be"),
        (lambda: Teacher("linear"), "takes"),
        (lambda: Teacher("linear", flip_prob=0.1, noise_level=0.2), "takes"),
        (lambda: Teacher("linear", flip_prob=0.6), "flip_prob"),
        (lambda: Teacher("linear", noise="gaussian", noise_level=0.2), r"\[0, 0.0833"),
        (lambda: Teacher("linear", noise="gaussian", noise_std=0.1, amplitude=1.0), "amplitude"),
        (lambda: Teacher("linear", noise="clipped_gaussian", noise_level=0.1), "Monte Carlo"),
        (lambda: Teacher("linear", noise="bernoulli", amplitude=1.5), "amplitude"),
        (lambda: UserLabels([0.5, 2.0]), r"outside \[-1, 1\]"),
        (lambda: UserLabels([0.5, float("nan")]), "NaN"),
        (lambda: UserLabels([[0.5], [0.1, 0.2]]), "ragged"),
        (lambda: UserLabels([0.5], noise_level=2.0), "noise_level"),
        (lambda: resolve_label_model("linear", {"colour": 1}), "bad label_params"),
        (lambda: resolve_label_model(RandomSign(), {"x": 1}), "label_params"),
        (lambda: rd.sample("sphere", n=3, d=4, labels=UserLabels([1, -1])), "2 labels for 3"),
    ],
)
def test_bad_input(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_labels_type_error():
    with pytest.raises(TypeError, match="labels must be"):
        resolve_label_model(3.0)  # type: ignore[arg-type]
