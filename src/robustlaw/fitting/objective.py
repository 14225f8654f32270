"""Per-member objectives F_b = D(MSE_b) + lambda_b P_b for a group of members.

Every member's objective depends on its own weights only, so the gradient of sum_b F_b
with respect to the stacked weights is every member's own gradient: one backward pass
serves the whole group. Evaluations run over the data in row chunks (see
:mod:`robustlaw.fitting.chunking`), accumulating the per-member sums of squared errors and
their gradients; the data term D (plain MSE, or a hinge above a target MSE) is applied per
member at the end by the chain rule, and the penalty P (a function of the weights, or of the
input gradient at fixed points) is differentiated separately. For two-layer ReLU and leaky-ReLU
groups on shared data the sums of squared errors and their gradients come from the
hand-derived pass of :mod:`robustlaw.fitting.analytic` (no autograd graph); everything else
uses autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlaw.fitting.analytic import TwoLayerSquaredError, analytic_supported
from robustlaw.fitting.penalties import Penalty
from robustlaw.models.mlp import MLP
from robustlaw.models.two_layer import TwoLayer

__all__ = ["DataTerm", "Evaluation", "Hinge", "Objective"]


@dataclass(frozen=True)
class DataTerm:
    """D(mse) = mse (plain least squares); subclasses change the shape."""

    def __call__(self, mse: Tensor) -> Tensor:
        return mse

    def select(self, keep: Tensor) -> DataTerm:
        return self


@dataclass(frozen=True)
class Hinge(DataTerm):
    """D(mse) = weight * max(0, mse - tau)^power: no pull once the fit is below tau.

    ``tau`` is a float or a per-member tensor (s,).
    """

    tau: float | Tensor = 0.0
    weight: float = 1.0
    power: float = 1.0

    def __call__(self, mse: Tensor) -> Tensor:
        tau = self.tau
        if isinstance(tau, Tensor):
            tau = tau.to(dtype=mse.dtype, device=mse.device)
        return self.weight * torch.relu(mse - tau) ** self.power

    def select(self, keep: Tensor) -> Hinge:
        if isinstance(self.tau, Tensor):
            return Hinge(self.tau[keep.to(self.tau.device)], self.weight, self.power)
        return self


@dataclass
class Evaluation:
    """Objective value F_b (s,), training MSE (s,) and gradients (one per parameter)."""

    value: Tensor
    mse: Tensor
    grads: list[Tensor] | None


def _fast_two_layer(group: TwoLayer, X: Tensor) -> Callable[[slice], Tensor]:
    """Two-layer outputs on rows of a shared X in the concatenated layout (rows, s k).

    One GEMM X_rows (rows, d) @ W^T (d, s k) for all members at once instead of a batched
    product with s small matrices.
    """
    s, k, d = group.W.shape
    act = group.activation
    full = bool(group.mask.all())  # packed groups of one width have no padding
    mask = None if full else group.mask.to(group.a.dtype)

    def out(rows: slice) -> Tensor:
        Xc = X[rows]
        # a contiguous (d, s k) right factor: its gradient X_rows^T @ grad is then computed
        # as a short-and-wide GEMM, 1.3-2x faster on CPU than the tall-and-skinny
        # grad^T @ X_rows autograd uses for a transposed view (measured)
        WT = group.W.reshape(s * k, d).T.contiguous()
        if group.b is not None:
            pre = torch.addmm(group.b.reshape(1, s * k), Xc, WT)
        else:
            pre = Xc @ WT
        h = act(pre).view(Xc.shape[0], s, k)
        a = group.a if mask is None else group.a * mask
        res = (h * a).sum(dim=-1)  # (rows, s)
        if group.c is not None:
            res = res + group.c
        if group.v is not None:
            res = res + Xc @ group.v.T
        return res.T  # (s, rows)

    return out


class Objective:
    """The objective of a packed group of members on fixed data.

    Parameters
    ----------
    group : TwoLayer or MLP
        The members (trained in place: its parameters are the optimization variables).
    X : Tensor, shape (n, d) or (s, n, d)
    y : Tensor, shape (n,) or (s, n)
    data_term : DataTerm
        Default: plain MSE.
    penalty : Penalty, optional
    strengths : Tensor (s,), optional
        lambda_b per member (default 1 when a penalty is given).
    rows : int
        Data rows per evaluation chunk.
    analytic : bool, optional
        Sums of squared errors and their gradients from the hand-derived two-layer pass
        (:mod:`robustlaw.fitting.analytic`) instead of autograd. None (default): whenever it
        applies (TwoLayer groups with relu or leaky_relu on shared inputs); True: required
        (ValueError otherwise); False: always autograd. Penalties use autograd either way.
    """

    def __init__(
        self,
        group: TwoLayer | MLP,
        X: Tensor,
        y: Tensor,
        data_term: DataTerm | None = None,
        penalty: Penalty | None = None,
        strengths: Tensor | None = None,
        rows: int | None = None,
        analytic: bool | None = None,
    ) -> None:
        self.group = group
        self.X = X
        self.y = y
        self.data_term = data_term or DataTerm()
        self.penalty = penalty
        self.params = [p for p in group.parameters() if p.requires_grad]
        s = self.params[0].shape[0]
        ref = self.params[0]
        if penalty is not None and strengths is None:
            strengths = torch.ones(s, dtype=ref.dtype, device=ref.device)
        self.strengths = None if strengths is None else strengths.to(ref.dtype)
        self.n = X.shape[-2]
        self.rows = self.n if rows is None else max(1, min(int(rows), self.n))
        self.fast = isinstance(group, TwoLayer) and X.ndim == 2
        self._fast = _fast_two_layer(group, X) if self.fast else None
        self._plain = type(self.data_term) is DataTerm  # D(mse) = mse: slope 1
        supported = y.ndim == 1 and analytic_supported(group, X)
        if analytic and not supported:
            raise ValueError(
                "analytic=True needs a TwoLayer group with relu or leaky_relu on shared data "
                f"X (n, d) and y (n,), got {type(group).__name__}, X {tuple(X.shape)}, "
                f"y {tuple(y.shape)}"
            )
        self.analytic = supported if analytic is None else bool(analytic)
        self._sse = TwoLayerSquaredError(group, X, y, self.rows) if self.analytic else None
        self.evaluations = 0

    @property
    def s(self) -> int:
        return self.params[0].shape[0]

    def _outputs(self, rows: slice) -> Tensor:
        if self.fast:
            return self._fast(rows)
        Xc = self.X[rows] if self.X.ndim == 2 else self.X[:, rows]
        return self.group(Xc)

    def _targets(self, rows: slice) -> Tensor:
        return self.y[rows] if self.y.ndim == 1 else self.y[:, rows]

    def _autograd_sse(self, need_grad: bool) -> tuple[Tensor, list[Tensor] | None]:
        """Per-member sums of squared errors (s,) and their gradients, by autograd."""
        n = self.n
        sse = None
        acc: list[Tensor] | None = None
        for start in range(0, n, self.rows):
            rows = slice(start, min(n, start + self.rows))
            with torch.set_grad_enabled(need_grad):
                err = self._outputs(rows) - self._targets(rows)
                part = (err * err).sum(dim=1)
                if need_grad:
                    grads = torch.autograd.grad(part.sum(), self.params, allow_unused=True)
                    grads = [
                        torch.zeros_like(p) if g is None else g
                        for p, g in zip(self.params, grads, strict=True)
                    ]
                    if acc is None:
                        # the W gradient arrives as a transposed view: optimizers (torch's
                        # fused Adam) need contiguous gradients
                        acc = [g.contiguous() for g in grads]
                    else:
                        for a, g in zip(acc, grads, strict=True):
                            a += g
            sse = part.detach() if sse is None else sse + part.detach()
        return sse, acc

    def evaluate(self, need_grad: bool = True) -> Evaluation:
        """F_b, MSE_b and (if ``need_grad``) dF_b / dparams at the current weights."""
        self.evaluations += 1
        n = self.n
        if self._sse is not None:
            sse, acc = self._sse(need_grad)
        else:
            sse, acc = self._autograd_sse(need_grad)
        mse = sse / n
        grads_out = None
        if self._plain:
            value = mse
            if need_grad:
                grads_out = [a.div_(n) for a in acc]
        else:
            with torch.enable_grad():
                leaf = mse.detach().requires_grad_(need_grad)
                value = self.data_term(leaf)
                if need_grad:
                    (slope,) = torch.autograd.grad(value.sum(), leaf)
            value = value.detach()
            if need_grad:
                grads_out = [
                    a * (slope / n).view(-1, *([1] * (a.ndim - 1))).to(a.dtype) for a in acc
                ]
        if self.penalty is not None:
            with torch.set_grad_enabled(need_grad):
                pen = self.penalty(self.group) * self.strengths
                if need_grad:
                    pgrads = torch.autograd.grad(pen.sum(), self.params, allow_unused=True)
                    for out, g in zip(grads_out, pgrads, strict=True):
                        if g is not None:
                            out += g
            value = value + pen.detach()
        return Evaluation(value, mse, grads_out)

    # ------------------------------------------------------------------ members

    def select(self, keep: Tensor) -> Objective:
        """The objective of the kept members only (a new group holding copies)."""
        pos = torch.nonzero(keep.cpu()).flatten()
        group = self.group.select(pos.tolist())
        dev = self.X.device
        X = self.X if self.X.ndim == 2 else self.X[pos.to(dev)]
        y = self.y if self.y.ndim == 1 else self.y[pos.to(self.y.device)]
        strengths = None if self.strengths is None else self.strengths[pos.to(dev)]
        # fewer members: larger row chunks within the same activation budget
        rows = self.rows * self.s // max(1, len(pos))
        out = Objective(
            group,
            X,
            y,
            self.data_term.select(pos.to(dev)),
            self.penalty,
            strengths,
            rows,
            self.analytic,
        )
        out.evaluations = self.evaluations
        return out

    # ------------------------------------------------------------------ flat views

    def flat(self) -> Tensor:
        """(s, P): every member's parameters as one row."""
        return torch.cat([p.detach().reshape(self.s, -1) for p in self.params], dim=1)

    def flat_grads(self, grads: list[Tensor]) -> Tensor:
        return torch.cat([g.reshape(self.s, -1) for g in grads], dim=1)

    @torch.no_grad()
    def set_flat(self, x: Tensor) -> None:
        offset = 0
        for p in self.params:
            size = p[0].numel()
            p.copy_(x[:, offset : offset + size].reshape(p.shape))
            offset += size
