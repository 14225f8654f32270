"""Per-member L-BFGS equals torch's L-BFGS run on each member alone."""

from __future__ import annotations

import pytest
import torch
from fitting_data import sphere_data
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lbfgs import _cubic_interpolate, _strong_wolfe

from robustlaw.fitting import Interpolate, fit
from robustlaw.fitting.lbfgs import cubic_interpolate, strong_wolfe
from robustlaw.models import MLP, TwoLayer

finite = st.floats(min_value=-5, max_value=5, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(finite, finite, finite, finite, finite, finite, st.booleans())
def test_cubic_interpolation_matches_torch(x1, f1, g1, x2, f2, g2, bounded):
    if abs(x1 - x2) < 1e-3:
        x2 = x1 + 1.0
    lo, hi = (min(x1, x2) - 0.5, max(x1, x2) + 2.0) if bounded else (None, None)
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    ref = _cubic_interpolate(
        t(x1)[0], t(f1)[0], t(g1)[0], t(x2)[0], t(f2)[0], t(g2)[0],
        bounds=None if lo is None else (lo, hi),
    )  # fmt: skip
    got = cubic_interpolate(
        t(x1), t(f1), t(g1), t(x2), t(f2), t(g2),
        None if lo is None else t(lo), None if hi is None else t(hi),
    )  # fmt: skip
    assert float(got[0]) == pytest.approx(float(ref), rel=1e-12, abs=1e-12, nan_ok=True)


def test_vectorized_strong_wolfe_matches_torch_per_member():
    """Line searches on several 1-D-restricted nonconvex functions, all members at once."""
    gen = torch.Generator().manual_seed(0)
    s, P = 6, 5
    A = torch.randn(s, P, P, dtype=torch.float64, generator=gen)
    centers = torch.randn(s, P, dtype=torch.float64, generator=gen)

    def objective(x):  # member-wise: sum cos + quadratic, nonconvex along lines
        r = torch.einsum("bpq,bq->bp", A, x - centers)
        return (r**2).sum(1) / 2 + 3 * torch.cos(x).sum(1)

    def grad(x):
        r = torch.einsum("bpq,bq->bp", A, x - centers)
        return torch.einsum("bpq,bp->bq", A, r) - 3 * torch.sin(x)

    x = torch.randn(s, P, dtype=torch.float64, generator=gen)
    g = grad(x)
    d = -g
    f = objective(x)
    gtd = (g * d).sum(1)
    t0 = torch.tensor([0.01, 0.1, 1.0, 5.0, 30.0, 0.5], dtype=torch.float64)

    def evaluate(x0, t, dd):
        z = x0 + t[:, None] * dd
        return objective(z), torch.zeros(s, dtype=torch.float64), grad(z)

    f_new, g_new, t_new, _, evals = strong_wolfe(evaluate, x, t0, d, f, g, gtd, f.clone())
    for b in range(s):

        def obj_func(xb, t, db, b=b):
            z = (xb + t * db)[None]
            return float(objective_b(z, b)), grad_b(z, b)

        def objective_b(z, b):
            r = A[b] @ (z[0] - centers[b])
            return (r**2).sum() / 2 + 3 * torch.cos(z[0]).sum()

        def grad_b(z, b):
            r = A[b] @ (z[0] - centers[b])
            return A[b].T @ r - 3 * torch.sin(z[0])

        ref = _strong_wolfe(obj_func, x[b], float(t0[b]), d[b], float(f[b]), g[b], gtd[b])
        assert float(t_new[b]) == pytest.approx(float(ref[2]), rel=1e-10), b
        assert float(f_new[b]) == pytest.approx(ref[0], rel=1e-10)
        assert torch.allclose(g_new[b], ref[1], atol=1e-10)
        assert int(evals[b]) == ref[3]


@pytest.mark.parametrize("line_search", ["strong_wolfe", None])
@pytest.mark.parametrize(
    "make",
    [
        lambda: TwoLayer(5, [6, 12], "tanh", seeds=[0, 1, 2], dtype=torch.float64),
        lambda: TwoLayer(5, [9], "relu", seeds=[0, 1], output_bias=True, dtype=torch.float64),
        lambda: MLP(5, [[4, 5], [6, 3]], "softplus", seeds=[0], dtype=torch.float64),
    ],
)
def test_per_member_lbfgs_equals_torch_lbfgs_on_each_member(make, line_search):
    X, y = sphere_data(40, 5, seed=4)
    fam = make()
    modules = [fam.member_module(i) for i in range(fam.B)]
    lr = 1.0 if line_search else 0.1
    iters = 15  # rounding differences (summation order) grow along the trajectory
    fam, report = fit(
        fam, X, y, Interpolate(0.0), optimizer="lbfgs", steps=iters, lr=lr,
        history_size=5, line_search=line_search, tolerance_grad=1e-7, tolerance_change=1e-9,
    )  # fmt: skip
    for i, module in enumerate(modules):
        opt = torch.optim.LBFGS(
            module.parameters(), lr=lr, max_iter=iters, max_eval=10**6, history_size=5,
            line_search_fn=line_search,
        )  # fmt: skip

        def closure(module=module, opt=opt):
            opt.zero_grad()
            loss = ((module(X)[:, 0] - y) ** 2).mean()
            loss.backward()
            return loss

        opt.step(closure)
        state = opt.state[opt._params[0]]
        ref = torch.cat([p.detach().flatten() for p in module.parameters()])
        got = torch.cat([p.detach().flatten() for p in fam.member_module(i).parameters()])
        assert torch.allclose(got, ref, rtol=1e-8, atol=1e-8), i
        assert report.members[i].steps == state["n_iter"]
        if line_search:
            assert report.members[i].evaluations == state["func_evals"]
