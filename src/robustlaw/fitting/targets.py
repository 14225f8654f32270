"""Fit targets: exact interpolation and fitting below the noise level.

A target turns into one number, the MSE threshold a member must reach:

- :class:`Interpolate` (tol):   (1/n) sum (f(x_i) - y_i)^2 <= tol;
- :class:`BelowNoise` (eps):    (1/n) sum (f(x_i) - y_i)^2 <= sigma^2 - eps,

the hypothesis of [BS, Theorem 3] (sigma^2 = E[Var(y | x)], the noise level, taken from the
target, from the data's metadata, or given to :func:`resolve_threshold`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BelowNoise", "Interpolate", "Target", "resolve_threshold"]


def _finite_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Interpolate:
    """Exact interpolation up to a tolerance: MSE <= ``tol``.

    Attributes
    ----------
    tol : float
        MSE threshold, >= 0 (default 1e-6).
    """

    tol: float = 1e-6

    def __post_init__(self) -> None:
        tol = _finite_number("tol", self.tol)
        if tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")

    def threshold(self, noise_level: float | None = None) -> float:
        """The MSE threshold (``noise_level`` is ignored)."""
        return float(self.tol)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "interpolate", **asdict(self)}


@dataclass(frozen=True)
class BelowNoise:
    """Fit below the noise level: MSE <= sigma^2 - eps [BS, Theorem 3].

    Attributes
    ----------
    eps : float
        Margin eps > 0.
    noise_level : float or None
        sigma^2; None means: take it from the data's metadata (``meta.noise_level``).
    """

    eps: float
    noise_level: float | None = None

    def __post_init__(self) -> None:
        eps = _finite_number("eps", self.eps)
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps!r}")
        if self.noise_level is not None:
            level = _finite_number("noise_level", self.noise_level)
            if level <= 0:
                raise ValueError(f"noise_level must be > 0, got {self.noise_level!r}")
            if level - eps <= 0:
                raise ValueError(
                    f"BelowNoise(eps={self.eps}, noise_level={self.noise_level}) cannot be met: "
                    f"sigma^2 - eps = {level - eps:g} <= 0"
                )

    def threshold(self, noise_level: float | None = None) -> float:
        """sigma^2 - eps, with sigma^2 from the target or else from ``noise_level``."""
        level = self.noise_level if self.noise_level is not None else noise_level
        if level is None:
            raise ValueError(
                "BelowNoise needs the noise level sigma^2: give BelowNoise(eps, noise_level=...) "
                "or pass data metadata with a noise_level (meta=...)"
            )
        level = _finite_number("noise_level", level)
        if level - self.eps <= 0:
            raise ValueError(
                f"BelowNoise(eps={self.eps}) cannot be met with noise level {level:g}: "
                f"sigma^2 - eps = {level - self.eps:g} <= 0"
            )
        return level - float(self.eps)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "below_noise", **asdict(self)}


Target = Interpolate | BelowNoise


def resolve_threshold(target: Target, meta: Any = None, noise_level: float | None = None) -> float:
    """The MSE threshold of ``target``.

    Parameters
    ----------
    target : Interpolate or BelowNoise
    meta : object with a ``noise_level`` attribute (e.g. ``robustlaw.data`` metadata), optional
    noise_level : float, optional
        sigma^2, used when neither the target nor ``meta`` gives one.
    """
    if not isinstance(target, Interpolate | BelowNoise):
        raise TypeError(
            f"target must be Interpolate(tol) or BelowNoise(eps), got {type(target).__name__}"
        )
    level = noise_level
    if meta is not None:
        if isinstance(meta, dict):
            meta_level = meta.get("noise_level")
        else:
            meta_level = getattr(meta, "noise_level", None)
        if meta_level is not None:
            level = meta_level
    return target.threshold(level)
