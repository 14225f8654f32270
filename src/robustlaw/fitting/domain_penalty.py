"""A Lipschitz penalty on a domain: the soft maximum of the domain gradient norm over a
point pool that holds adversarial points refreshed during training (a min-max scheme).

On the unit sphere the Lipschitz constant that the two-layer conjecture speaks of is the
supremum of the *tangential* gradient norm ||(I - x x^T) grad f(x)|| over S^{d-1}
(docs/science.md sections 1 and 2); on the ball and on R^d it is the supremum of ||grad f(x)||.
Weight-only bounds (spectral, path norm, averaged) are bounds over R^d: their minimizers
are not smooth on the sphere (an explicit cap interpolant's R^d constant is about 100 times
its sphere constant), so a search for the smoothest fit *on the sphere* has to push the
sphere constant itself down. :func:`domain_grad_penalty` does that with

    P_b = ( mean_{z in Z_b} (g_b(z) / m_b)^q )^{1/q} * m_b,   m_b = max_z g_b(z) (detached),

g_b the domain gradient norm of member b and Z_b = (shared points) + (member b's own
adversarial points). A power mean with large q tends to the maximum over the pool; the
pool's adversarial part is refreshed every few hundred steps by :func:`ascend_points`:
ascent on the domain gradient norm of a softplus-smoothed copy of the member (for ReLU,
grad f is piecewise constant and plain autograd ascent does not move; docs/science.md section
5), each iterate evaluated on the true network. The value is an *estimate* of Lip (a
smoothed maximum over points), never a certified bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from robustlaw._pl import normalize_domain, project, sample_domain
from robustlaw.fitting.penalties import Penalty
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "SLOT",
    "PointPool",
    "ascend_points",
    "domain_grad_norms",
    "domain_grad_penalty",
    "domain_points",
    "on_sphere",
]

#: Key of a member's metadata that names its row of :attr:`PointPool.adversarial`.
SLOT = "pool_slot"


def on_sphere(X: Tensor, tol: float = 1e-6) -> bool:
    """Whether every row of X (n, d) has norm 1 within ``tol``."""
    return bool(((X.detach().norm(dim=-1) - 1.0).abs() <= tol).all())


def domain_grad_norms(family: TwoLayer, Z: Tensor, domain: str) -> Tensor:
    """Domain gradient norms of every member at points, differentiable in the weights.

    Parameters
    ----------
    family : TwoLayer
    Z : Tensor, shape (m, d) or (B, m, d)
        Points (assumed to lie in the domain; on the sphere, of unit norm).
    domain : {"rd", "ball", "sphere"}

    Returns
    -------
    Tensor, shape (B, m)
        ||grad f_b(z)|| on R^d and the ball; ||(I - z z^T) grad f_b(z)|| on the sphere.
    """
    g = family.input_gradient(Z)  # (B, m, d)
    if domain != "sphere":
        return g.norm(dim=-1)
    Zb = Z if Z.ndim == 3 else Z.expand(g.shape[0], *Z.shape)
    radial = (g * Zb).sum(dim=-1, keepdim=True)
    tangential = g - radial * Zb
    # a tiny floor keeps the norm differentiable where the tangential gradient vanishes
    return (tangential.pow(2).sum(dim=-1) + 1e-30).sqrt()


def domain_points(
    domain: str,
    m: int,
    d: int,
    seed: int,
    scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> Tensor:
    """m random points of the domain (m, d): uniform on the sphere or in the ball; on R^d
    random directions with radii log-uniform in [scale / 4, 16 scale]
    (:func:`robustlaw._pl.sample_domain`)."""
    gen = torch.Generator().manual_seed(int(seed))
    Z = sample_domain(normalize_domain(domain), int(m), int(d), gen, scale=scale)
    return Z.to(device=device, dtype=dtype)


def _surrogate_grad(W: Tensor, a: Tensor, b: Tensor | None, x: Tensor, beta: float) -> Tensor:
    """grad_x of sum_l a_l softplus_beta(w_l . x + b_l) for ReLU (B, m, d)."""
    pre = torch.einsum("bmd,bkd->bmk", x, W)
    if b is not None:
        pre = pre + b[:, None, :]
    return torch.einsum("bmk,bkd->bmd", torch.sigmoid(beta * pre) * a[:, None, :], W)


def _tangential_norm(g: Tensor, x: Tensor, domain: str) -> Tensor:
    if domain != "sphere":
        return g.norm(dim=-1)
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return (g - (g * xn).sum(dim=-1, keepdim=True) * xn).norm(dim=-1)


@torch.no_grad()
def _true_values(family: TwoLayer, x: Tensor, domain: str) -> Tensor:
    return _tangential_norm(family.input_gradient(x), x, domain)


def ascend_points(
    family: TwoLayer,
    starts: Tensor,
    domain: str,
    steps: int = 30,
    sharpness: Sequence[float] = (2.0, 8.0, 32.0),
    lr: float = 0.03,
) -> tuple[Tensor, Tensor]:
    """Move points toward large domain gradient norm, one point set per member.

    Adam ascent of ||grad f_beta(x)||^2 (tangential on the sphere), with f_beta the member
    with every ReLU kink smoothed to softplus_beta (beta relative to the median
    |pre-activation| at the starts, raised stage by stage), projected back onto the domain
    after each step. Every iterate is evaluated on the true network and each point keeps
    the best position it visited, so the returned values never fall below the starts'.

    Parameters
    ----------
    family : TwoLayer
        ReLU members (B); other activations are evaluated without smoothing.
    starts : Tensor, shape (B, m, d)
    domain : {"rd", "ball", "sphere"}
    steps : int
        Adam steps per sharpness stage.
    sharpness : sequence of float
        Relative softplus sharpness per stage.
    lr : float
        Adam's step size (relative to the starts' median norm).

    Returns
    -------
    points : Tensor (B, m, d)
        The best position of each point (in the domain).
    values : Tensor (B, m)
        The true domain gradient norm there.
    """
    domain = normalize_domain(domain)
    if starts.ndim != 3 or starts.shape[0] != family.B or starts.shape[2] != family.d:
        raise ValueError(
            f"starts must have shape ({family.B}, m, {family.d}), got {tuple(starts.shape)}"
        )
    eff = family.effective_weights()
    W, a = eff.W.detach(), (eff.a * eff.mask.to(eff.a.dtype)).detach()
    b = None if eff.b is None else eff.b.detach()
    relu = family.activation.name == "relu"
    x = project(starts.detach().clone(), domain)
    best_x = x.clone()
    best_v = _true_values(family, x, domain)
    if not relu or steps <= 0:
        return best_x, best_v
    with torch.no_grad():
        pre = torch.einsum("bmd,bkd->bmk", x, W)
        if b is not None:
            pre = pre + b[:, None, :]
        scale = float(pre.abs().median().clamp_min(1e-12))
        radius = float(x.norm(dim=-1).median().clamp_min(1e-12))
    for beta in sharpness:
        x = best_x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr * radius)
        for _ in range(int(steps)):
            g = _surrogate_grad(W, a, b, x, float(beta) / scale)
            obj = _tangential_norm(g, x, domain).pow(2).sum()
            opt.zero_grad()
            (-obj).backward()
            opt.step()
            with torch.no_grad():
                x.copy_(project(x, domain))
                v = _true_values(family, x, domain)
                better = v > best_v
                best_v = torch.where(better, v, best_v)
                best_x = torch.where(better[..., None], x, best_x)
    return best_x.detach(), best_v


class PointPool:
    """Points at which the domain gradient penalty is evaluated.

    Parameters
    ----------
    shared : Tensor, shape (m0, d)
        Points used for every member (data, random points of the domain, points near the
        data).
    slots : int
        Number of members with their own adversarial points.
    per_slot : int
        Adversarial points per member.
    domain : {"rd", "ball", "sphere"}
    seed : int
        Seeds the fresh random starts of :meth:`refresh`.

    Attributes
    ----------
    adversarial : Tensor, shape (slots, per_slot, d)
        Member-specific points (initially random points of the domain).
    """

    def __init__(
        self, shared: Tensor, slots: int, per_slot: int, domain: str, seed: int = 0
    ) -> None:
        if shared.ndim != 2:
            raise ValueError(f"shared must have shape (m, d), got {tuple(shared.shape)}")
        if slots < 1 or per_slot < 0:
            raise ValueError(f"need slots >= 1 and per_slot >= 0, got {slots}, {per_slot}")
        self.domain = normalize_domain(domain)
        self.shared = shared
        self.per_slot = int(per_slot)
        self.seed = int(seed)
        self.refreshes = 0
        d = shared.shape[1]
        scale = float(shared.norm(dim=1).median()) if shared.shape[0] else 1.0
        self.scale = scale if scale > 0 else 1.0
        Z = domain_points(
            self.domain, slots * self.per_slot, d, seed, self.scale, shared.dtype, shared.device
        )
        self.adversarial = Z.reshape(slots, self.per_slot, d)

    def points(self, slots: Tensor) -> Tensor:
        """(s, m0 + per_slot, d): the shared points plus each given slot's own."""
        sh = self.shared.expand(len(slots), *self.shared.shape)
        return torch.cat([sh, self.adversarial[slots]], dim=1)

    def refresh(
        self,
        family: TwoLayer,
        steps: int = 30,
        sharpness: Sequence[float] = (2.0, 8.0, 32.0),
        fresh: float = 0.25,
    ) -> Tensor:
        """Re-seed every member's adversarial points by ascent; returns the best value found
        per member (B,) (a certified lower bound on its Lip on the domain: witnesses).

        Starts: the member's current adversarial points and best shared points, and a
        fraction ``fresh`` of new random points of the domain.
        """
        if self.per_slot == 0:
            return torch.zeros(family.B, dtype=torch.float64)
        slots = _slots_of(family)
        with torch.no_grad():
            pts = self.points(slots.to(self.shared.device))
            vals = _true_values(family, pts.to(family.W.dtype), self.domain)
        keep = self.per_slot - round(fresh * self.per_slot)
        top = vals.topk(min(keep, vals.shape[1]), dim=1).indices
        chosen = torch.gather(pts, 1, top[..., None].expand(-1, -1, pts.shape[2]))
        n_new = self.per_slot - chosen.shape[1]
        if n_new > 0:
            self.refreshes += 1
            new = domain_points(
                self.domain,
                family.B * n_new,
                family.d,
                self.seed + 7919 * self.refreshes,
                self.scale,
                pts.dtype,
                pts.device,
            ).reshape(family.B, n_new, family.d)
            chosen = torch.cat([chosen, new], dim=1)
        moved, values = ascend_points(
            family, chosen.to(family.W.dtype), self.domain, steps, sharpness
        )
        self.adversarial[slots] = moved.to(self.adversarial.dtype)
        return values.amax(dim=1).to(device="cpu", dtype=torch.float64)


def _slots_of(family: TwoLayer) -> Tensor:
    try:
        return torch.tensor([int(m[SLOT]) for m in family.members], dtype=torch.long)
    except KeyError as exc:
        raise ValueError(f"every member needs a {SLOT!r} entry in its metadata") from exc


def domain_grad_penalty(pool: PointPool, power: float = 16.0) -> Penalty:
    """Soft maximum of the domain gradient norm over each member's pool points.

    The value per member is the power mean (mean_z g(z)^q)^{1/q} of the (tangential, on
    the sphere) gradient norm g over :meth:`PointPool.points` of the member's slot
    (``members[i]["pool_slot"]``); it lies below the pool maximum, so it is an *estimate*
    of Lip on the domain (never a certified bound). Refreshing the pool between training
    rounds keeps the maximizers in it.

    Parameters
    ----------
    pool : PointPool
    power : float
        q >= 1 (larger: closer to the maximum, sparser gradients).
    """
    if not isinstance(pool, PointPool):
        raise TypeError(f"pool must be a PointPool, got {type(pool).__name__}")
    if not (isinstance(power, int | float) and math.isfinite(power) and power >= 1):
        raise ValueError(f"power must be a finite number >= 1, got {power!r}")

    def fn(family: TwoLayer) -> Tensor:
        if not isinstance(family, TwoLayer):
            raise TypeError(f"penalty 'domain_grad' applies to TwoLayer families, got {family}")
        slots = _slots_of(family).to(pool.shared.device)
        Z = pool.points(slots).to(device=family.W.device, dtype=family.W.dtype)
        g = domain_grad_norms(family, Z, pool.domain)
        top = g.detach().amax(dim=1, keepdim=True).clamp_min(1e-30)
        return top[:, 0] * ((g / top) ** power).mean(dim=1) ** (1.0 / power)

    return Penalty("domain_grad", fn, certified=False, uses_data=True)
