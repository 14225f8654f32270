"""Adam on stacked member weights, with per-member learning rates and member removal.

Adam is elementwise, so Adam on tensors stacked over members is Adam on every member
alone. With one learning rate for all members the step is ``torch.optim.Adam`` (its fused
CPU/CUDA kernel where available); with per-member learning rates it is the same update
written out with a learning rate broadcast over the member dimension (the formulas of
``torch.optim.Adam``: Kingma & Ba 2015 with bias corrections). Members that stop are
removed from the batch (:meth:`BatchedAdam.select`), so their moments cannot move them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["BatchedAdam", "fused_adam_available"]

_FUSED_CACHE: dict[tuple[str, torch.dtype], bool] = {}


def fused_adam_available(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` runs for this device and dtype."""
    key = (torch.device(device).type, dtype)
    if key not in _FUSED_CACHE:
        try:
            p = torch.zeros(2, dtype=dtype, device=device, requires_grad=True)
            p.grad = torch.ones_like(p)
            torch.optim.Adam([p], lr=1e-3, fused=True).step()
            _FUSED_CACHE[key] = True
        except (RuntimeError, TypeError, ValueError):
            _FUSED_CACHE[key] = False
    return _FUSED_CACHE[key]


class BatchedAdam:
    """Adam for parameters with a leading member dimension.

    Parameters
    ----------
    params : list of Tensor
        Leaf tensors of shapes (s, ...), updated in place.
    lr : float or Tensor (s,)
    betas : (float, float)
    eps : float
    fused : bool or None
        Use torch's fused kernel (None: when available and the learning rate is uniform).
    """

    def __init__(
        self,
        params: list[Tensor],
        lr: float | Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        fused: bool | None = None,
    ) -> None:
        self.params = params
        self.betas = betas
        self.eps = eps
        ref = params[0]
        s = ref.shape[0]
        lr_t = torch.as_tensor(lr, dtype=torch.float64).flatten().cpu()
        if lr_t.numel() == 1:
            lr_t = lr_t.expand(s)
        self.lr = lr_t.clone()
        self.uniform = bool((self.lr == self.lr[0]).all())
        if fused is None:
            fused = self.uniform and fused_adam_available(ref.device, ref.dtype)
        if fused and not self.uniform:
            raise ValueError("fused Adam needs one learning rate for all members")
        self.fused = bool(fused)
        self.step_count = 0
        if self.uniform:
            kwargs = {"fused": True} if self.fused else {"foreach": True}
            self._torch = torch.optim.Adam(
                params, lr=float(self.lr[0]), betas=betas, eps=eps, **kwargs
            )
        else:
            self._torch = None
            self.exp_avg = [torch.zeros_like(p) for p in params]
            self.exp_avg_sq = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        """One Adam step for every member with the given gradients."""
        self.step_count += 1
        if self._torch is not None:
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g.contiguous()
            self._torch.step()
            for p in self.params:
                p.grad = None
            return
        beta1, beta2 = self.betas
        t = self.step_count
        bias1 = 1 - beta1**t
        bias2_sqrt = math.sqrt(1 - beta2**t)
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v.sqrt() / bias2_sqrt).add_(self.eps)
            step = (self.lr / bias1).to(device=p.device, dtype=p.dtype)
            p.sub_(m / denom * step.view(-1, *([1] * (p.ndim - 1))))

    def select(self, keep: Tensor, params: list[Tensor]) -> BatchedAdam:
        """The optimizer of the kept members, now driving ``params`` (their copies)."""
        pos = torch.nonzero(keep.cpu()).flatten()
        out = BatchedAdam.__new__(BatchedAdam)
        out.params = params
        out.betas, out.eps = self.betas, self.eps
        out.lr = self.lr[pos].clone()
        out.uniform = self.uniform
        out.fused = self.fused
        out.step_count = self.step_count
        if self._torch is not None:
            kwargs = {"fused": True} if self.fused else {"foreach": True}
            out._torch = torch.optim.Adam(
                params, lr=float(self.lr[0]), betas=self.betas, eps=self.eps, **kwargs
            )
            for old, new in zip(self.params, params, strict=True):
                state = self._torch.state.get(old)
                if state:
                    dev_pos = pos.to(old.device)
                    out._torch.state[new] = {
                        "step": state["step"].clone(),
                        "exp_avg": state["exp_avg"][dev_pos].clone(),
                        "exp_avg_sq": state["exp_avg_sq"][dev_pos].clone(),
                    }
        else:
            out._torch = None
            out.exp_avg = [m[pos.to(m.device)].clone() for m in self.exp_avg]
            out.exp_avg_sq = [v[pos.to(v.device)].clone() for v in self.exp_avg_sq]
        return out
