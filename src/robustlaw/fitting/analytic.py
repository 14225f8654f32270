"""Hand-derived forward and backward pass of the squared error of two-layer ReLU groups.

For a packed group of s two-layer members of width k on shared data X (n, d), the sum of
squared errors of member b is

    SSE_b = sum_i (f_b(x_i) - y_i)^2,   f_b(x) = sum_l a_bl psi(w_bl . x + b_bl) + c_b + v_b . x

with psi = ReLU or leaky ReLU [Bubeck, Li, Nagaraj, COLT 2021, the class F_k(psi)]. With
e_bi = f_b(x_i) - y_i and M_bil = e_bi psi'(w_bl . x_i + b_bl), its gradients are

    dSSE_b / dw_bl = 2 a_bl sum_i M_bil x_i      dSSE_b / db_bl = 2 a_bl sum_i M_bil
    dSSE_b / da_bl = 2 sum_i e_bi psi(w_bl . x_i + b_bl)
    dSSE_b / dc_b  = 2 sum_i e_bi                dSSE_b / dv_b  = 2 sum_i e_bi x_i

Both activations are positively homogeneous, psi(t) = psi'(t) t, so the gradient in a_bl
needs no pass over the data of its own:

    sum_i e_bi psi(w_bl . x_i + b_bl) = (w_bl, b_bl) . sum_i M_bil (x_i, 1),

the dot product of each unit's weights with its own column of the W gradient. One evaluation
is therefore two GEMMs over all members at once (forward: [X, 1] (rows, d + 1) times the
stacked [W^T; b] (d + 1, s k); backward: [X, 1]^T times M (rows, s k)), with the bias folded
into both as a column of ones, plus three elementwise passes (activation in place, output
reduction, psi' mask written over the activations). No autograd graph is built and the
row-chunk buffer is allocated once and reused across evaluations. Autograd stays the path for
other activations, per-member inputs and penalties (:mod:`robustlaw.fitting.objective`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustlaw.models.activations import ACTIVATIONS, LEAKY_SLOPE
from robustlaw.models.two_layer import TwoLayer

__all__ = ["ANALYTIC_ACTIVATIONS", "TwoLayerSquaredError", "analytic_supported"]

#: Activations with a hand-derived backward pass (name -> negative slope).
ANALYTIC_ACTIVATIONS: dict[str, float] = {"relu": 0.0, "leaky_relu": LEAKY_SLOPE}
#: From this width on, the output reduction runs as one matrix-vector product per member
#: (bench/fit_throughput.py conditions: 1.2x (float32) to 1.9x (float64) faster than a
#: broadcast multiply and sum at widths 64 to 1024; below, per-call overhead dominates).
MV_MIN_WIDTH = 64


def analytic_supported(group: object, X: Tensor) -> bool:
    """Whether :class:`TwoLayerSquaredError` applies to ``group`` on inputs ``X``.

    It does for a :class:`~robustlaw.models.two_layer.TwoLayer` group whose activation is the
    registered ``relu`` or ``leaky_relu``, on shared inputs ``X`` (n, d), when every parameter
    is trained (``requires_grad``).
    """
    if not isinstance(group, TwoLayer) or X.ndim != 2:
        return False
    name = group.activation.name
    if name not in ANALYTIC_ACTIVATIONS or group.activation is not ACTIVATIONS.get(name):
        return False
    return all(p.requires_grad for p in group.parameters())


class TwoLayerSquaredError:
    """Per-member sum of squared errors and its gradients, without autograd.

    Parameters
    ----------
    group : TwoLayer
        s members (packed or padded; padded units are masked out). Its parameters are read
        at every call, so in-place updates of the weights are seen.
    X : Tensor, shape (n, d)
        Shared inputs.
    y : Tensor, shape (n,)
        Shared labels.
    rows : int
        Data rows per chunk; the activation buffer holds rows x s k entries.

    Notes
    -----
    ``__call__`` returns gradients in the order of ``list(group.parameters())`` (W, b, a, c,
    v, the optional ones when present), each a fresh tensor of its parameter's shape, so that
    callers may keep or modify them.
    """

    def __init__(self, group: TwoLayer, X: Tensor, y: Tensor, rows: int) -> None:
        if not analytic_supported(group, X):
            raise ValueError(
                "the analytic squared error needs a TwoLayer group with relu or leaky_relu on "
                f"shared inputs (n, d), got {type(group).__name__} with inputs of shape "
                f"{tuple(X.shape)}"
            )
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        self.group = group
        self.slope = ANALYTIC_ACTIVATIONS[group.activation.name]
        W = group.W
        s, k, d = W.shape
        self.s, self.k, self.d = s, k, d
        self.n = X.shape[0]
        self.rows = max(1, min(int(rows), self.n))
        ref = {"dtype": W.dtype, "device": W.device}
        X = X.to(**ref)
        self.X = X
        self.y = y.to(**ref)
        # [X, 1] with the bias column when the hidden layer has biases, and its transpose
        cols = [X] if group.b is None else [X, torch.ones(self.n, 1, **ref)]
        self.Xa = torch.cat(cols, dim=1).contiguous()  # (n, d or d + 1)
        self.XaT = self.Xa.T.contiguous()
        self.full = bool(group.mask.all())
        self._pre = torch.empty(self.rows, s * k, **ref)  # activations, then the psi' mask

    # ------------------------------------------------------------------ pieces

    def _stacked_weights(self) -> Tensor:
        """[W^T; b] (d or d + 1, s k) of the current weights."""
        g = self.group
        WT = g.W.detach().reshape(self.s * self.k, self.d).T
        if g.b is None:
            return WT.contiguous()
        return torch.cat([WT, g.b.detach().reshape(1, -1)], dim=0)

    def _activate(self, pre: Tensor) -> None:
        if self.slope == 0.0:
            pre.relu_()
        else:
            torch.nn.functional.leaky_relu_(pre, self.slope)

    def _outputs(self, h: Tensor, a: Tensor) -> Tensor:
        """(r, s) outputs sum_l a_bl h_ibl (a view of a fresh (s, r) tensor)."""
        r, s, k = h.shape
        if k < MV_MIN_WIDTH:
            return (h * a).sum(dim=-1)
        out = torch.empty(s, r, dtype=h.dtype, device=h.device)
        for j in range(s):  # one matrix-vector product per member, on a strided view
            torch.mv(h[:, j, :], a[j], out=out[j])
        return out.T

    def _mask_into(self, errT: Tensor, h: Tensor) -> None:
        """h <- errT * psi'(pre), computed from h = psi(pre) (psi(t) > 0 iff t > 0)."""
        grad = errT[:, :, None].expand(h.shape)
        if self.slope == 0.0:
            torch.ops.aten.threshold_backward.grad_input(grad, h, 0, grad_input=h)
        else:
            torch.ops.aten.leaky_relu_backward.grad_input(grad, h, self.slope, True, grad_input=h)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def __call__(self, need_grad: bool = True) -> tuple[Tensor, list[Tensor] | None]:
        """SSE_b (s,) and, if ``need_grad``, dSSE_b / dparams (one tensor per parameter)."""
        g = self.group
        s, k, d, n = self.s, self.k, self.d, self.n
        a = g.a.detach()
        if not self.full:
            a = a * g.mask.to(a.dtype)
        WTa = self._stacked_weights()
        v = None if g.v is None else g.v.detach()
        c = None if g.c is None else g.c.detach()
        sse = torch.zeros(s, dtype=a.dtype, device=a.device)
        if need_grad:
            gWTa = torch.zeros_like(WTa)  # (d [+ 1], s k): X^T M summed over chunks
            esum = torch.zeros(s, dtype=a.dtype, device=a.device) if c is not None else None
            gv = torch.zeros(s, d, dtype=a.dtype, device=a.device) if v is not None else None
        for start in range(0, n, self.rows):
            stop = min(n, start + self.rows)
            r = stop - start
            Xa = self.Xa[start:stop]
            pre = self._pre[:r]
            torch.mm(Xa, WTa, out=pre)  # (r, s k) preactivations, bias included
            self._activate(pre)
            h = pre.view(r, s, k)
            errT = self._outputs(h, a)  # (r, s) outputs
            errT -= self.y[start:stop, None]
            if c is not None:
                errT += c
            if v is not None:
                errT += self.X[start:stop] @ v.T
            sse += (errT * errT).sum(dim=0)
            if not need_grad:
                continue
            if esum is not None:
                esum += errT.sum(dim=0)
            if gv is not None:
                gv.addmm_(errT.T, self.X[start:stop])
            self._mask_into(errT, h)
            gWTa.addmm_(self.XaT[:, start:stop], pre)
        if not need_grad:
            return sse, None
        # homogeneity: sum_i e_bi psi(pre_bil) = (w_bl, b_bl) . sum_i M_bil (x_i, 1)
        ga = (WTa * gWTa).sum(dim=0).view(s, k).mul_(2.0)
        if not self.full:
            ga *= g.mask.to(ga.dtype)
        two_a = 2.0 * a
        # fresh contiguous tensors (the transposed view may share gWTa's storage)
        grads: list[Tensor] = [gWTa[:d].T.contiguous().view(s, k, d) * two_a[..., None]]
        if g.b is not None:
            grads.append(gWTa[d].reshape(s, k) * two_a)
        grads.append(ga)
        if esum is not None:
            grads.append(2.0 * esum)
        if gv is not None:
            grads.append(2.0 * gv)
        return sse, grads
