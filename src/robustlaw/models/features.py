"""Random-feature and NTK-feature families, fitted in closed form (minimum-norm interpolation).

Both families are linear in their trainable parameters theta over fixed features of the
input, with a first layer W (k, d) of N(0, 1/d) entries that is drawn once and never
trained (docs/science.md section 6; Bombari, Kiyani, Mondelli, ICML 2023; Dohmatob 2021):

- random features (RF):  f(x) = sum_l theta_l psi(w_l . x),             p = k;
- NTK features:          f(x) = sum_l psi'(w_l . x) <theta_l, x>,      p = d k
  (the features are the rows x (x) psi'(W x), the tangent features of a two-layer network
  with respect to its first layer).

:meth:`FeatureFamily.fit_min_norm` sets theta = Z^+ y (or the ridge solution
Z^T (Z Z^T + lambda I)^{-1} y), batched over members, in the n x n kernel form when p > n.
The sensitivity sqrt(d) ||grad f(z)|| at test points z uses :meth:`input_gradient`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from robustlaw.models._checks import (
    check_dtype,
    check_seeds,
    check_widths,
    member_index,
    positive_int,
)
from robustlaw.models.activations import Activation, get_activation, name_of_module

__all__ = ["FeatureFamily", "NTKFeatureNet", "NTKFeatures", "RandomFeatures", "min_norm_solve"]

#: Elements of a (members, n, p) feature chunk above which members are solved in pieces.
_CHUNK_ELEMENTS = 2**24


def _feature_generator(seed: int, width: int, d: int) -> torch.Generator:
    """A CPU generator determined by (seed, width, d) only (independent of position)."""
    entropy = np.random.SeedSequence([int(seed), int(width), int(d), 0xFEA7]).generate_state(2)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


def min_norm_solve(K: Tensor, y: Tensor, ridge: float = 0.0, rcond: float | None = None) -> Tensor:
    """alpha = (K + ridge I)^+ y for a batch of symmetric PSD kernel matrices.

    Parameters
    ----------
    K : Tensor, shape (B, n, n)
        Gram matrices Z Z^T.
    y : Tensor, shape (n,) or (B, n)
    ridge : float
        lambda >= 0. With lambda > 0 a Cholesky solve; with lambda = 0 the pseudo-inverse
        through an eigendecomposition, eigenvalues below ``rcond * max eigenvalue`` dropped
        (default rcond = n * machine epsilon, as numpy.linalg.lstsq does).

    Returns
    -------
    Tensor, shape (B, n)
    """
    B, n, _ = K.shape
    rhs = y.expand(B, n) if y.ndim == 1 else y
    if ridge > 0:
        eye = torch.eye(n, dtype=K.dtype, device=K.device)
        L, info = torch.linalg.cholesky_ex(K + ridge * eye)
        if bool((info == 0).all()):
            return torch.cholesky_solve(rhs[..., None], L)[..., 0]
        K = K + ridge * eye
    evals, evecs = torch.linalg.eigh(K)
    if rcond is None:
        rcond = n * torch.finfo(K.dtype).eps
    cutoff = rcond * evals.abs().amax(dim=1, keepdim=True)
    inv = torch.where(evals > cutoff, 1.0 / evals, torch.zeros_like(evals))
    coef = torch.einsum("bnm,bn->bm", evecs, rhs) * inv
    return torch.einsum("bnm,bm->bn", evecs, coef)


class FeatureFamily(nn.Module):
    """Common part of :class:`RandomFeatures` and :class:`NTKFeatures`.

    Attributes
    ----------
    W : buffer, shape (B, k_max, d)
        The fixed first layer, masked.
    theta : Parameter
        (B, k_max) for RF, (B, k_max, d) for NTK features.
    mask : buffer, shape (B, k_max), bool
    widths : buffer, shape (B,), int64
    members : list of dict
        ``width``, ``seed``, ``family`` ("random_features" or "ntk") and later tags.
    """

    kind: str = ""

    def __init__(
        self,
        d: int,
        widths: Sequence[int],
        activation: str | Activation = "relu",
        seeds: Sequence[int] = (0,),
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        d = positive_int("d", d)
        widths = check_widths(widths)
        seeds = check_seeds(seeds)
        check_dtype(dtype)
        act = get_activation(activation)
        pairs = list(itertools.product(widths, seeds))
        k_max = max(widths)
        B = len(pairs)
        W = torch.zeros(B, k_max, d, dtype=torch.float64)
        mask = torch.zeros(B, k_max, dtype=torch.bool)
        for i, (width, seed) in enumerate(pairs):
            gen = _feature_generator(seed, width, d)
            W[i, :width] = torch.randn(width, d, generator=gen, dtype=torch.float64) / np.sqrt(d)
            mask[i, :width] = True
        self._setup(
            W,
            None,
            mask,
            act,
            [{"width": int(w), "seed": int(s), "family": self.kind} for w, s in pairs],
            dtype,
            device,
        )

    def _theta_shape(self, B: int, k: int, d: int) -> tuple[int, ...]:
        raise NotImplementedError

    def _setup(
        self,
        W: Tensor,
        theta: Tensor | None,
        mask: Tensor,
        activation: Activation,
        members: list[dict],
        dtype: torch.dtype,
        device: str | torch.device | None,
    ) -> None:
        kw = {"dtype": dtype, "device": device}
        m = mask.to(device=W.device, dtype=torch.bool)
        B, k, d = W.shape
        if theta is None:
            theta = torch.zeros(self._theta_shape(B, k, d), dtype=W.dtype, device=W.device)
        mt = m.to(W.dtype)
        theta = theta * (mt if theta.ndim == 2 else mt[..., None])
        self.activation = activation
        self.members = members
        self.register_buffer("W", (W * mt[..., None]).to(**kw))
        self.theta = nn.Parameter(theta.to(**kw))
        self.register_buffer("mask", m.to(device=device))
        self.register_buffer("widths", self.mask.sum(dim=1).to(torch.int64))

    @classmethod
    def from_tensors(
        cls,
        W: Tensor,
        theta: Tensor | None = None,
        activation: str | Activation = "relu",
        mask: Tensor | None = None,
        members: list[dict] | None = None,
    ) -> FeatureFamily:
        """A family with a given first layer W (B, k, d) and optional theta."""
        if not isinstance(W, Tensor) or W.ndim != 3 or 0 in W.shape:
            raise ValueError(
                f"W must be a tensor of shape (B, k, d), got {getattr(W, 'shape', W)!r}"
            )
        if W.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"W must be float32 or float64, got {W.dtype}")
        B, k, d = W.shape
        family = cls.__new__(cls)
        nn.Module.__init__(family)
        shape = family._theta_shape(B, k, d)
        if theta is not None and tuple(theta.shape) != shape:
            raise ValueError(f"theta must have shape {shape}, got {tuple(theta.shape)}")
        for name, t in (("W", W), ("theta", theta)):
            if t is not None and not torch.isfinite(t).all():
                raise ValueError(f"{name} must be finite (found NaN or inf)")
        if mask is None:
            mask = torch.ones(B, k, dtype=torch.bool, device=W.device)
        if tuple(mask.shape) != (B, k):
            raise ValueError(f"mask must have shape {(B, k)}, got {tuple(mask.shape)}")
        if not mask.to(torch.bool).any(dim=1).all():
            raise ValueError("every member needs at least one unit: a row of mask is all False")
        if members is None:
            members = [{"width": int(w), "family": cls.kind} for w in mask.sum(dim=1).tolist()]
        if len(members) != B:
            raise ValueError(f"members must have one entry per member ({B}), got {len(members)}")
        family._setup(
            W.detach().clone(),
            None if theta is None else theta.detach().clone(),
            mask,
            get_activation(activation),
            [dict(m) for m in members],
            W.dtype,
            W.device,
        )
        return family

    # ------------------------------------------------------------------ properties

    @property
    def B(self) -> int:
        """Number of members."""
        return self.W.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.W.shape[2]

    @property
    def k_max(self) -> int:
        """Largest width (number of random units) in the family."""
        return self.W.shape[1]

    @property
    def param_counts(self) -> list[int]:
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluation

    def _check_input(self, X: Tensor) -> None:
        if not isinstance(X, Tensor):
            raise TypeError(f"X must be a torch tensor, got {type(X).__name__}")
        ok = (X.ndim == 2 and X.shape[1] == self.d) or (
            X.ndim == 3 and X.shape[0] == self.B and X.shape[2] == self.d
        )
        if not ok:
            raise ValueError(
                f"X must have shape (n, {self.d}) or ({self.B}, n, {self.d}), got {tuple(X.shape)}"
            )

    def preactivations(self, X: Tensor, W: Tensor | None = None) -> Tensor:
        """w_l . x for every member. X: (n, d) or (B, n, d) -> (B, n, k_max)."""
        self._check_input(X)
        W = self.W if W is None else W
        if X.ndim == 2:
            return torch.einsum("bkd,nd->bnk", W, X)
        return torch.einsum("bkd,bnd->bnk", W, X)

    def input_gradient(self, X: Tensor) -> Tensor:
        """grad_x f_b(x_i), by automatic differentiation of :meth:`forward`.

        X: (n, d) or (B, n, d) -> (B, n, d). At kinks of psi' (ReLU) the a.e. derivative.
        """
        self._check_input(X)
        Xb = (X.expand(self.B, *X.shape) if X.ndim == 2 else X).detach().clone()
        Xb.requires_grad_(True)
        with torch.enable_grad():
            out = self.forward(Xb)
            (grad,) = torch.autograd.grad(out.sum(), Xb, create_graph=torch.is_grad_enabled())
        return grad

    def sensitivity(self, Z: Tensor) -> Tensor:
        """sqrt(d) ||grad f_b(z)|| at test points Z (m, d) -> (B, m) [Bombari et al. 2023]."""
        return self.input_gradient(Z).norm(dim=-1) * self.d**0.5

    # ------------------------------------------------------------------ closed-form fit

    def _kernel(self, X: Tensor, idx: Tensor) -> Tensor:
        raise NotImplementedError

    def _theta_from_dual(self, X: Tensor, idx: Tensor, alpha: Tensor) -> Tensor:
        raise NotImplementedError

    def features(self, X: Tensor) -> Tensor:
        """Z: the feature matrix of every member. X: (n, d) -> (B, n, p_max)."""
        raise NotImplementedError

    def _features_of(self, X: Tensor, idx: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def fit_min_norm(
        self,
        X: Tensor,
        y: Tensor,
        ridge: float = 0.0,
        method: str = "auto",
    ) -> Tensor:
        """Set theta to the minimum-norm least-squares solution Z^+ y (or the ridge solution).

        Parameters
        ----------
        X : Tensor, shape (n, d)
        y : Tensor, shape (n,)
        ridge : float
            lambda >= 0: theta = argmin ||Z theta - y||^2 + lambda ||theta||^2.
        method : {"auto", "kernel", "primal"}
            ``"kernel"`` solves in the n x n form theta = Z^T (Z Z^T + lambda I)^+ y;
            ``"primal"`` with lstsq (lambda = 0) or the normal equations (lambda > 0);
            ``"auto"`` takes the kernel form when p_max > n.

        Returns
        -------
        Tensor, shape (B,)
            The training MSE of every member after the fit.
        """
        self._check_input(X)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n, {self.d}) for a fit, got {tuple(X.shape)}")
        if not isinstance(y, Tensor) or y.ndim != 1 or y.shape[0] != X.shape[0]:
            shape = tuple(getattr(y, "shape", ()))
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {shape}")
        if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
            raise ValueError("X and y must be finite (found NaN or inf)")
        if isinstance(ridge, bool) or not isinstance(ridge, int | float) or not ridge >= 0:
            raise ValueError(f"ridge must be a non-negative number, got {ridge!r}")
        if method not in ("auto", "kernel", "primal"):
            raise ValueError(f"method must be 'auto', 'kernel' or 'primal', got {method!r}")
        X = X.to(dtype=self.W.dtype, device=self.W.device)
        y = y.to(dtype=self.W.dtype, device=self.W.device)
        n = X.shape[0]
        p_max = max(self.param_counts)
        use_kernel = method == "kernel" or (method == "auto" and p_max > n)
        per_member = n * (n if use_kernel else p_max) + n * p_max
        step = max(1, _CHUNK_ELEMENTS // max(per_member, 1))
        for start in range(0, self.B, step):
            idx = torch.arange(start, min(self.B, start + step), device=self.W.device)
            if use_kernel:
                alpha = min_norm_solve(self._kernel(X, idx), y, float(ridge))
                theta = self._theta_from_dual(X, idx, alpha)
            else:
                Z = self._features_of(X, idx)
                theta = self._primal_solve(Z, y, float(ridge))
            self.theta.data[idx] = theta.reshape(self.theta.data[idx].shape)
        return ((self.forward(X) - y) ** 2).mean(dim=1)

    @staticmethod
    def _primal_solve(Z: Tensor, y: Tensor, ridge: float) -> Tensor:
        B, n, p = Z.shape
        rhs = y.expand(B, n)[..., None]
        if ridge > 0:
            G = Z.transpose(1, 2) @ Z + ridge * torch.eye(p, dtype=Z.dtype, device=Z.device)
            return torch.linalg.solve(G, Z.transpose(1, 2) @ rhs)[..., 0]
        if Z.device.type == "cpu":
            return torch.linalg.lstsq(Z, rhs, driver="gelsd").solution[..., 0]
        return (torch.linalg.pinv(Z) @ rhs)[..., 0]

    # ------------------------------------------------------------------ members

    def select(self, indices: Sequence[int] | Tensor) -> FeatureFamily:
        """A new family holding copies of the given members, in the given order."""
        idx = member_index(indices, self.B, self.W.device)
        return type(self).from_tensors(
            self.W[idx],
            self.theta.detach()[idx],
            self.activation,
            self.mask[idx],
            [self.members[i] for i in idx.tolist()],
        )

    def _units(self, i: int) -> Tensor:
        if not 0 <= i < self.B:
            raise ValueError(f"i must lie in [0, {self.B}), got {i}")
        return torch.nonzero(self.mask[i]).flatten()


class RandomFeatures(FeatureFamily):
    """B random-feature models f(x) = sum_l theta_l psi(w_l . x), W fixed with N(0, 1/d) entries.

    Parameters
    ----------
    d : int
    widths : sequence of int
        Numbers of random features k; one member per (width, seed), widths outermost.
    activation : str or Activation
    seeds : sequence of int
        A member's W depends only on (seed, width, d).
    dtype, device
        As for :class:`robustlaw.models.TwoLayer`.
    """

    kind = "random_features"

    def _theta_shape(self, B: int, k: int, d: int) -> tuple[int, ...]:
        return (B, k)

    @property
    def param_counts(self) -> list[int]:
        """p = k (only theta is trained)."""
        return [int(k) for k in self.widths.tolist()]

    def _phi(self, X: Tensor, W: Tensor, mask: Tensor) -> Tensor:
        pre = (
            torch.einsum("bkd,nd->bnk", W, X) if X.ndim == 2 else torch.einsum("bkd,bnd->bnk", W, X)
        )
        return self.activation(pre) * mask.to(pre.dtype)[:, None, :]

    def features(self, X: Tensor) -> Tensor:
        """psi(W x) for every member. X: (n, d) or (B, n, d) -> (B, n, k_max)."""
        self._check_input(X)
        return self._phi(X, self.W, self.mask)

    def _features_of(self, X: Tensor, idx: Tensor) -> Tensor:
        return self._phi(X, self.W[idx], self.mask[idx])

    def _kernel(self, X: Tensor, idx: Tensor) -> Tensor:
        Z = self._features_of(X, idx)
        return Z @ Z.transpose(1, 2)

    def _theta_from_dual(self, X: Tensor, idx: Tensor, alpha: Tensor) -> Tensor:
        return torch.einsum("bnk,bn->bk", self._features_of(X, idx), alpha)

    def forward(self, X: Tensor) -> Tensor:
        """f_b(x_i). X: (n, d) or (B, n, d) -> (B, n)."""
        return torch.einsum("bnk,bk->bn", self.features(X), self.theta)

    def to_two_layer(self):
        """The same functions as a :class:`robustlaw.models.TwoLayer` family (no biases)."""
        from robustlaw.models.two_layer import TwoLayer

        return TwoLayer.from_tensors(
            self.W,
            self.theta.detach(),
            activation=self.activation,
            mask=self.mask,
            members=[dict(m) for m in self.members],
        )

    def member_module(self, i: int) -> nn.Module:
        """``nn.Sequential(Linear(d, k, bias=False), act, Linear(k, 1, bias=False))``."""
        units = self._units(i)
        kw = {"dtype": self.W.dtype, "device": self.W.device}
        first = nn.Linear(self.d, len(units), bias=False).to(**kw)
        out = nn.Linear(len(units), 1, bias=False).to(**kw)
        with torch.no_grad():
            first.weight.copy_(self.W[i, units])
            out.weight.copy_(self.theta[i, units][None])
        return nn.Sequential(first, self.activation.module(), out)

    @classmethod
    def from_module(cls, modules: nn.Module | Sequence[nn.Module]) -> RandomFeatures:
        """Import bias-free ``Sequential(Linear(d, k), act, Linear(k, 1))`` networks.

        The first layer becomes the fixed features W and the output layer theta.
        """
        if isinstance(modules, nn.Module):
            modules = [modules]
        modules = list(modules)
        if not modules:
            raise ValueError("modules must hold at least one network, got an empty list")
        parsed = []
        for i, module in enumerate(modules):
            layers = list(module) if isinstance(module, nn.Sequential) else [module]
            if len(layers) != 3:
                raise ValueError(
                    f"modules[{i}] must be nn.Sequential(Linear, activation, Linear), "
                    f"got {module!r}"
                )
            first, act, out = layers
            for j, layer in ((0, first), (2, out)):
                if not isinstance(layer, nn.Linear) or layer.bias is not None:
                    raise ValueError(
                        f"modules[{i}][{j}]: unsupported layer {layer!r} "
                        "(expected nn.Linear without bias)"
                    )
            name = name_of_module(act)
            if name is None:
                raise ValueError(f"modules[{i}][1]: unsupported activation layer {act!r}")
            if out.in_features != first.out_features or out.out_features != 1:
                raise ValueError(f"modules[{i}][2] must map {first.out_features} features to 1")
            parsed.append((first, name, out))
        if len({p[1] for p in parsed}) != 1 or len({p[0].in_features for p in parsed}) != 1:
            raise ValueError("all modules must have the same input dimension and activation")
        d = parsed[0][0].in_features
        k_max = max(p[0].out_features for p in parsed)
        ref = parsed[0][0].weight
        W = torch.zeros(len(parsed), k_max, d, dtype=ref.dtype, device=ref.device)
        theta = torch.zeros(len(parsed), k_max, dtype=ref.dtype, device=ref.device)
        mask = torch.zeros(len(parsed), k_max, dtype=torch.bool, device=ref.device)
        for i, (first, _, out) in enumerate(parsed):
            k = first.out_features
            W[i, :k] = first.weight.detach()
            theta[i, :k] = out.weight.detach()[0]
            mask[i, :k] = True
        return cls.from_tensors(W, theta, parsed[0][1], mask)  # type: ignore[return-value]


class NTKFeatures(FeatureFamily):
    """B NTK-feature models f(x) = sum_l psi'(w_l . x) <theta_l, x>, W fixed (N(0, 1/d)).

    The features of x are the d k entries of x (x) psi'(W x) (p = d k); theta has shape
    (B, k_max, d). Parameters as for :class:`RandomFeatures`.
    """

    kind = "ntk"

    def _theta_shape(self, B: int, k: int, d: int) -> tuple[int, ...]:
        return (B, k, d)

    @property
    def param_counts(self) -> list[int]:
        """p = d k."""
        return [int(k) * self.d for k in self.widths.tolist()]

    def _slopes(self, X: Tensor, W: Tensor, mask: Tensor) -> Tensor:
        pre = (
            torch.einsum("bkd,nd->bnk", W, X) if X.ndim == 2 else torch.einsum("bkd,bnd->bnk", W, X)
        )
        return self.activation.derivative(pre) * mask.to(pre.dtype)[:, None, :]

    def features(self, X: Tensor) -> Tensor:
        """Rows x (x) psi'(W x) for every member. X: (n, d) -> (B, n, k_max d)."""
        self._check_input(X)
        return self._features_of(X, torch.arange(self.B, device=self.W.device))

    def _features_of(self, X: Tensor, idx: Tensor) -> Tensor:
        S = self._slopes(X, self.W[idx], self.mask[idx])  # (b, n, k)
        Xb = X if X.ndim == 3 else X.expand(S.shape[0], *X.shape)
        return (S[..., None] * Xb[:, :, None, :]).reshape(S.shape[0], S.shape[1], -1)

    def _kernel(self, X: Tensor, idx: Tensor) -> Tensor:
        S = self._slopes(X, self.W[idx], self.mask[idx])
        return (S @ S.transpose(1, 2)) * (X @ X.T)

    def _theta_from_dual(self, X: Tensor, idx: Tensor, alpha: Tensor) -> Tensor:
        S = self._slopes(X, self.W[idx], self.mask[idx])
        return torch.einsum("bnk,bn,nd->bkd", S, alpha, X)

    def forward(self, X: Tensor) -> Tensor:
        """f_b(x_i). X: (n, d) or (B, n, d) -> (B, n)."""
        self._check_input(X)
        S = self._slopes(X, self.W, self.mask)
        proj = (
            torch.einsum("bkd,nd->bnk", self.theta, X)
            if X.ndim == 2
            else torch.einsum("bkd,bnd->bnk", self.theta, X)
        )
        return (S * proj).sum(dim=-1)

    def member_module(self, i: int) -> nn.Module:
        """Member i as an :class:`NTKFeatureNet` mapping (n, d) to (n, 1)."""
        units = self._units(i)
        return NTKFeatureNet(self.W[i, units], self.theta.detach()[i, units], self.activation)

    @classmethod
    def from_module(cls, modules: nn.Module | Sequence[nn.Module]) -> NTKFeatures:
        """Import :class:`NTKFeatureNet` modules (same d and activation) into one family."""
        if isinstance(modules, nn.Module):
            modules = [modules]
        modules = list(modules)
        if not modules:
            raise ValueError("modules must hold at least one network, got an empty list")
        for i, module in enumerate(modules):
            if not isinstance(module, NTKFeatureNet):
                raise ValueError(
                    f"modules[{i}]: unsupported module {type(module).__name__} "
                    "(expected NTKFeatureNet)"
                )
        names = {m.activation_name for m in modules}
        ds = {m.W.shape[1] for m in modules}
        if len(names) != 1 or len(ds) != 1:
            raise ValueError("all modules must have the same input dimension and activation")
        d = ds.pop()
        k_max = max(m.W.shape[0] for m in modules)
        ref = modules[0].W
        W = torch.zeros(len(modules), k_max, d, dtype=ref.dtype, device=ref.device)
        theta = torch.zeros_like(W)
        mask = torch.zeros(len(modules), k_max, dtype=torch.bool, device=ref.device)
        for i, m in enumerate(modules):
            k = m.W.shape[0]
            W[i, :k] = m.W
            theta[i, :k] = m.theta.detach()
            mask[i, :k] = True
        return cls.from_tensors(W, theta, names.pop(), mask)  # type: ignore[return-value]


class NTKFeatureNet(nn.Module):
    """One NTK-feature model x -> sum_l psi'(w_l . x) <theta_l, x> as a module.

    ``W`` (k, d) is a fixed buffer, ``theta`` (k, d) a parameter; maps (n, d) to (n, 1).
    """

    def __init__(self, W: Tensor, theta: Tensor, activation: str | Activation) -> None:
        super().__init__()
        act = get_activation(activation)
        self.activation_name = act.name
        self.register_buffer("W", W.detach().clone())
        self.theta = nn.Parameter(theta.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        slopes = get_activation(self.activation_name).derivative(x @ self.W.T)
        return (slopes * (x @ self.theta.T)).sum(dim=-1, keepdim=True)
