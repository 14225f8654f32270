"""The built-in runners on the real pieces: batch = loop, invariants, hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from robustlaw import data as rl_data
from robustlaw import theory
from robustlaw.models import TwoLayer
from robustlaw.models.features import RandomFeatures
from robustlaw.sweep import TrialRecord, expand, group, parse_spec, run_batch
from robustlaw.sweep.runners import certified_robust_accuracy, pgd_robust_accuracy


def _spec(**sections) -> dict:
    raw = {"name": "r", "experiment": "runner_check", "seeds": [1]}
    raw.update(sections)
    return raw


def _records(raw: dict, max_members: int | None = None) -> dict[str, TrialRecord]:
    out = {}
    for batch in group(expand(parse_spec(raw)), max_members):
        for record in run_batch(batch):
            out[record.trial_hash] = record
    return out


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


# --------------------------------------------------------------------------- features


FEATURES = _spec(
    data={"distribution": "sphere", "n": 40, "d": 6},
    model={"family": "random_features", "activation": "tanh", "widths": [20, 60, 150]},
    lipschitz={"methods": [], "test_points": 50},
)


def test_features_batch_equals_loop_and_sensitivity_is_below_its_maximum():
    batched = _records(FEATURES)
    looped = _records(FEATURES, max_members=1)
    assert batched.keys() == looped.keys()
    for key, record in batched.items():
        one = looped[key]
        assert record.status == one.status == "done"
        for name in ("train_mse", "sensitivity", "lip_lower"):
            a, b = getattr(record.metrics, name), getattr(one.metrics, name)
            # the closed-form solve may switch between kernel and primal form with the
            # batch's largest p: equal up to rounding
            assert _close(a, b, 1e-7) or abs(a - b) < 1e-12, (name, a, b)
        metrics = record.metrics
        # mean over test points of sqrt(d)|grad f| <= sqrt(d) max over data and test points
        assert metrics.sensitivity <= math.sqrt(6) * metrics.lip_lower * (1 + 1e-12)
        assert metrics.p == record.config.model.width
        expected_fit = metrics.train_mse <= 1e-6
        assert metrics.fit_reached == expected_fit
    widths = {r.config.model.width: r.metrics.train_mse for r in batched.values()}
    assert widths[150] < 1e-12 and widths[20] > 0.1  # p > n interpolates, p < n cannot


def test_features_lower_bound_is_a_gradient_norm_at_its_witness():
    (record, *_) = _records(FEATURES).values()
    witness = torch.tensor(record.lipschitz["gradient_witness"]["x"], dtype=torch.float64)
    width = record.config.model.width
    drawn = rl_data.sample("sphere", n=90, d=6, seed=1, dtype=torch.float64)
    family = RandomFeatures(6, [width], activation="tanh", seeds=[1], dtype=torch.float64)
    family.fit_min_norm(drawn.X[:40], drawn.y[:40])
    value = float(family.input_gradient(witness[None]).detach().norm())
    assert _close(value, record.metrics.lip_lower, 1e-7)


# --------------------------------------------------------------------------- train


TRAIN = _spec(
    data={"distribution": "sphere", "n": 30, "d": 4},
    model={"family": "two_layer", "widths": [3, 12, 40]},
    fit={"target": "below_noise", "eps": 0.1, "steps": 60, "lr": 0.01},
    lipschitz={"methods": [], "test_points": 40},
)


def test_diverging_members_are_recorded_and_the_others_done():
    raw = _spec(
        data={"distribution": "sphere", "n": 30, "d": 4},
        model={
            "family": "mlp",
            "hidden_layers": 3,
            "activation": "square",
            "widths": [2, 64],
            "dtype": "float32",
        },
        fit={"target": "interpolate", "steps": 50, "lr": 7.0},
        lipschitz={"methods": [], "test_points": 10},
    )
    records = {r.config.model.width: r for r in _records(raw).values()}
    assert records[64].status == "diverged"
    assert records[64].fit["status"] == "diverged"
    assert "diverged" in records[64].error
    assert records[2].status == "done" and math.isfinite(records[2].metrics.train_mse)
    assert records[2].metrics.fit_reached is False


def test_pgd_on_a_linear_model_matches_the_closed_form():
    # f(x) = v.x: the worst L2 perturbation of radius r lowers y f(x) by exactly r |v|
    d, m, r = 5, 200, 0.3
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(d, generator=gen, dtype=torch.float64)
    X = torch.randn(m, d, generator=gen, dtype=torch.float64)
    y = torch.sign(torch.randn(m, generator=gen, dtype=torch.float64))
    family = TwoLayer.from_tensors(
        torch.zeros(1, d, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), v=v
    )
    margin = y * (X @ v)
    clean, robust = pgd_robust_accuracy(family, X, y, r, steps=10)
    assert clean == [float((margin > 0).double().mean())]
    assert robust == [float((margin > r * v.norm()).double().mean())]
    certified = certified_robust_accuracy(family, X, y, r, [float(v.norm())])
    assert certified == robust
    assert math.isnan(certified_robust_accuracy(family, X, y, r, [math.inf])[0])


def test_pgd_accuracies_are_ordered_on_trained_networks():
    raw = dict(TRAIN, lipschitz={"methods": [], "test_points": 60, "pgd_radius": 0.2})
    for record in _records(raw).values():
        metrics = record.metrics
        assert 0 <= metrics.robust_accuracy <= metrics.clean_accuracy <= 1
        assert math.isnan(metrics.certified_robust_accuracy)  # no certified bound asked


# --------------------------------------------------------------------------- constructions


def test_cap_construction_interpolates_with_certified_bounds():
    raw = _spec(
        data={"distribution": "sphere", "n": 12, "d": 6},
        model={"family": "construction", "construction": "caps"},
        lipschitz={"domain": "sphere", "methods": [], "test_points": 1},
    )
    (record,) = _records(raw).values()
    metrics = record.metrics
    assert record.status == "done" and metrics.fit_reached is True
    assert metrics.train_mse < 1e-18
    assert metrics.width == 24  # 2n units
    assert metrics.p == theory.two_layer_param_count(6, 24)
    assert 0 < metrics.lip_lower <= metrics.lip_upper < math.inf
    assert metrics.lip_upper_method.startswith("construction")
    # an exact interpolant is never smoother than the data floor (geodesic on the sphere)
    assert 0 < metrics.lip_floor <= metrics.lip_lower * (1 + 1e-9)


def test_data_floor_is_the_separation_of_the_trial_data_and_bounds_every_fit():
    raw = _spec(
        data={"distribution": "sphere", "n": 16, "d": 5},
        model={"family": "two_layer", "widths": [64]},
        fit={"target": "interpolate", "tol": 1e-6, "steps": 4000, "lr": 0.01},
        lipschitz={"domain": "sphere", "methods": ["lower", "upper"], "test_points": 1},
    )
    (record,) = _records(raw).values()
    metrics = record.metrics
    X, y = (torch.as_tensor(v, dtype=torch.float64) for v in _trial_data(raw))
    expected = rl_data.separation(X, y, domain="sphere").interpolation_lipschitz
    assert _close(metrics.lip_floor, expected, 1e-6)
    assert metrics.fit_reached is True
    # |f(x_i) - y_i| <= sqrt(n mse) at every point, so f's quotient on the floor's pair is
    # at least the floor times (1 - sqrt(n mse)) for +-1 labels
    slack = 1 - math.sqrt(16 * metrics.train_mse)
    assert metrics.lip_upper >= metrics.lip_floor * slack
    below = _spec(
        data={"distribution": "sphere", "n": 16, "d": 5},
        model={"family": "two_layer", "widths": [8]},
        fit={"target": "below_noise", "eps": 0.5, "steps": 50},
        lipschitz={"domain": "sphere", "methods": [], "test_points": 1},
    )
    (record,) = _records(below).values()
    assert record.metrics.lip_floor is None  # a fit below the noise need not interpolate


def _trial_data(raw: dict):
    from robustlaw.sweep.run import RunContext
    from robustlaw.sweep.runners import _load_data

    (batch,) = group(expand(parse_spec(raw)))
    data = _load_data(batch.config, RunContext())
    return data.X, data.y


def test_threshold_construction_has_a_proven_infinite_constant():
    raw = _spec(
        data={"distribution": "sphere", "n": 12, "d": 6},
        model={"family": "construction", "construction": "baum"},
        lipschitz={"domain": "rd", "methods": [], "test_points": 1},
    )
    (record,) = _records(raw).values()
    assert record.metrics.lip_exact == math.inf
    assert record.metrics.fit_reached is True


def test_a_construction_that_sets_its_own_width_rejects_widths():
    raw = _spec(
        data={"distribution": "sphere", "n": 12, "d": 6},
        model={"family": "construction", "construction": "caps", "widths": [4]},
        lipschitz={"methods": [], "test_points": 1},
    )
    (record,) = _records(raw).values()
    assert record.status == "failed"
    assert "sets its own width" in record.error


@pytest.mark.parametrize("name", ["nope"])
def test_unknown_construction_is_a_spec_error(name):
    from robustlaw.sweep import SpecError

    with pytest.raises(SpecError, match="unknown construction 'nope'"):
        parse_spec(_spec(data={"distribution": "sphere", "n": 5, "d": 3},
                         model={"family": "construction", "construction": name}))  # fmt: skip


def test_smoothest_fit_trials_report_the_smallest_certified_fitting_bound():
    raw = _spec(
        data={"distribution": "sphere", "n": 20, "d": 4},
        model={"family": "two_layer", "widths": [4, 24]},
        fit={
            "target": "below_noise",
            "eps": 0.2,
            "smoothest": True,
            "penalty": "averaged",
            "strengths": [0.01, 0.1],
            "steps": 30,
            "lr": 0.01,
            "options": {"fit_steps": 200, "polish_steps": 20, "stages": 1},
        },
        lipschitz={"domain": "rd", "methods": [], "test_points": 10},
    )
    for record in _records(raw).values():
        metrics, fit = record.metrics, record.fit
        candidates = record.extra["smoothest"]["candidates"]
        assert len(candidates) == 3  # the plain fit and one per strength
        assert {c["width"] for c in candidates} == {record.config.model.width}
        fitting = [c for c in candidates if c["fits"]]
        assert fitting, "the plain fit reaches MSE <= 0.8 at these sizes"
        assert metrics.lip_upper == fit["upper"] == min(c["upper"] for c in fitting)
        assert metrics.lip_upper_method == f"{fit['upper_name']} (smoothest_fit)"
        assert metrics.fit_reached is True and metrics.train_mse <= 0.8
        assert metrics.lip_lower == fit["lower_sampled"] <= metrics.lip_upper


# --------------------------------------------------------------------------- with Lipschitz


def test_trained_members_equal_members_trained_alone_and_their_witnesses_check_out():
    from robustlaw.fitting import BelowNoise, fit

    raw = _spec(
        data={"distribution": "sphere", "n": 20, "d": 3},
        model={"family": "two_layer", "widths": [4, 12]},
        fit={"target": "below_noise", "eps": 0.1, "steps": 100, "lr": 0.01},
        lipschitz={"domain": "rd", "methods": ["lower", "upper"], "test_points": 10,
                   "budget_seconds": 5},
    )  # fmt: skip
    drawn = rl_data.sample("sphere", n=30, d=3, seed=1, dtype=torch.float64)
    for record in _records(raw).values():
        metrics, lip = record.metrics, record.lipschitz
        width = record.config.model.width
        assert metrics.p == theory.two_layer_param_count(3, width)
        assert metrics.noise_level == 1.0  # random ±1 labels
        assert metrics.fit_reached == (metrics.train_mse <= 0.9)
        assert (record.fit["status"] == "reached") == metrics.fit_reached
        assert 0 < metrics.lip_lower <= metrics.lip_upper < math.inf
        assert metrics.lip_lower == lip["lower"] and metrics.lip_upper == lip["upper"]
        assert metrics.lip_upper_method == lip["upper_method"]
        assert {m["kind"] for m in lip["methods"].values()} >= {"lower", "upper"}
        # the member trained alone (batch = loop), and the gradient at the stored witness
        family = TwoLayer(3, [width], seeds=[1], dtype=torch.float64)
        family, report = fit(family, drawn.X[:20], drawn.y[:20], BelowNoise(0.1, 1.0),
                             steps=100, lr=0.01, progress=False)  # fmt: skip
        with torch.no_grad():
            alone = float(((family(drawn.X[:20]) - drawn.y[:20]) ** 2).mean())
        assert _close(alone, metrics.train_mse, 1e-9)
        assert report.members[0].steps == record.fit["steps"]
        witness = torch.tensor(lip["lower_witness"]["x"], dtype=torch.float64)
        value = float(family.input_gradient(witness[None]).detach().norm())
        assert _close(value, metrics.lip_lower, 1e-6)


def test_cap_closed_form_lies_between_the_measured_bounds():
    raw = _spec(
        data={"distribution": "sphere", "n": 8, "d": 5},
        model={"family": "construction", "construction": "caps", "options": {"s": "disjoint"}},
        lipschitz={"domain": "sphere", "methods": ["lower", "upper"], "test_points": 1,
                   "budget_seconds": 5},
    )  # fmt: skip
    (record,) = _records(raw).values()
    closed = record.lipschitz["construction"]["sphere"]
    assert closed["exact"] and record.metrics.lip_exact == closed["upper"]
    measured = record.lipschitz["estimate"]
    assert measured["lower"] <= closed["upper"] * (1 + 1e-9)
    assert measured["upper"] >= closed["upper"] * (1 - 1e-9)


def test_random_features_get_a_certified_upper_bound_above_the_gradient_bound():
    raw = dict(FEATURES, lipschitz={"methods": ["lower", "upper"], "test_points": 20,
                                    "budget_seconds": 5})  # fmt: skip
    for record in _records(raw).values():
        metrics = record.metrics
        assert math.isfinite(metrics.lip_upper)
        assert metrics.lip_lower <= metrics.lip_upper * (1 + 1e-9)
        gradient = record.lipschitz["gradient_witness"]["value"]
        assert metrics.lip_lower >= gradient
