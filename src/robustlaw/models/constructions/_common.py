"""What every construction returns besides its network, and the checks at its boundary.

Every construction takes data ``X`` (n, d) and labels ``y`` (n,) in [-1, 1] (numpy arrays
or torch tensors), validates them here, works in float64 numpy, and returns a network plus
a :class:`ConstructionReport`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "INTERPOLATION_TOL",
    "SPHERE_TOL",
    "ConstructionReport",
    "LipschitzInterval",
]

#: Largest |f(x_i) - y_i| (float64) for which a construction is said to interpolate.
INTERPOLATION_TOL = 1e-9
#: Data count as on the unit sphere when every | ||x_i|| - 1 | is at most this.
SPHERE_TOL = 1e-6


@dataclass(frozen=True)
class LipschitzInterval:
    """A certified interval [lower, upper] on Lip(f) over one domain.

    Attributes
    ----------
    domain : {"sphere", "rd"}
        "sphere": sup over the unit sphere of the tangential gradient norm (the geodesic
        constant); "rd": sup over R^d of the gradient norm.
    lower, upper : float
        Certified bounds (``upper = inf`` when none is known or f is discontinuous).
    lower_method, upper_method : str
        How each bound was obtained ("closed form", "witness: ...", "subset relaxation", ...).
    exact : bool
        True when the value is proven (a closed form, or lower == upper).
    witness : list of float, optional
        A point where the gradient norm (tangential on the sphere) equals ``lower``,
        when the lower bound comes from one.
    """

    domain: str
    lower: float
    upper: float
    lower_method: str
    upper_method: str
    exact: bool = False
    witness: list[float] | None = None

    @classmethod
    def closed_form(cls, domain: str, value: float, formula: str) -> LipschitzInterval:
        """An exact value given by a formula (both bounds equal, both methods the formula)."""
        return cls(domain, float(value), float(value), formula, formula, exact=True)

    @property
    def ratio(self) -> float:
        """upper / lower (inf when lower is 0 or upper is inf)."""
        if self.lower <= 0 or not math.isfinite(self.upper):
            return math.inf
        return self.upper / self.lower

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConstructionReport:
    """What a construction built and what is known about it.

    Attributes
    ----------
    construction : str
        "baum", "relu_memorizer", "caps", "radial_bump" or "grouped_caps".
    n, d : int
        Number of data points and input dimension.
    neurons : int or None
        Hidden units of the two-layer network (None for the radial bump, which is not a
        two-layer network).
    params : int
        Parameter count p (for two-layer networks as :func:`robustlaw.theory.two_layer_param_count`
        counts them; for the radial bump n (d + 1): the centres and the labels).
    max_error : float
        max_i |f(x_i) - y_i|, evaluated with the returned network in float64.
    interpolates : bool
        ``max_error < INTERPOLATION_TOL``.
    condition : str
        The separation condition under which the construction interpolates.
    condition_met : bool
        Whether the data meet it.
    lipschitz : dict
        Domain name -> :class:`LipschitzInterval` (closed forms where they exist).
    details : dict
        Construction-specific quantities (cap height s, margins, group sizes, ...).
    """

    construction: str
    n: int
    d: int
    neurons: int | None
    params: int
    max_error: float
    interpolates: bool
    condition: str
    condition_met: bool
    lipschitz: dict[str, LipschitzInterval] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dictionary (intervals as dicts; numpy scalars and arrays as Python values)."""
        out = {
            "construction": self.construction,
            "n": self.n,
            "d": self.d,
            "neurons": self.neurons,
            "params": self.params,
            "max_error": self.max_error,
            "interpolates": self.interpolates,
            "condition": self.condition,
            "condition_met": self.condition_met,
            "lipschitz": {key: value.to_dict() for key, value in self.lipschitz.items()},
            "details": _plain(self.details),
        }
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- validation


def as_numpy(value: object, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like or tensor; TypeError for anything else."""
    if isinstance(value, Tensor):
        return value.detach().to(device="cpu", dtype=torch.float64).numpy().copy()
    if isinstance(value, np.ndarray | list | tuple):
        try:
            return np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a numeric array, got {value!r:.80}") from exc
    raise TypeError(f"{name} must be a torch tensor or numpy array, got {type(value).__name__}")


def validate_data(
    X: object, y: object, *, sphere: bool = False, labels: str = "real"
) -> tuple[np.ndarray, np.ndarray]:
    """Check data and labels at the boundary; return float64 copies (X (n, d), y (n,)).

    Parameters
    ----------
    X : array-like or Tensor, shape (n, d)
    y : array-like or Tensor, shape (n,)
    sphere : bool
        Require | ||x_i|| - 1 | <= :data:`SPHERE_TOL` for every row.
    labels : {"real", "sign"}
        "real": labels in [-1, 1]; "sign": labels in {-1, +1}.

    Raises
    ------
    ValueError
        Naming the argument: wrong shape, NaN/inf, duplicate rows, points off the sphere,
        labels outside [-1, 1] (or not +-1).
    """
    Xn = as_numpy(X, "X")
    yn = as_numpy(y, "y")
    if Xn.ndim != 2 or Xn.shape[0] == 0 or Xn.shape[1] == 0:
        raise ValueError(f"X must have shape (n, d) with n, d >= 1, got {Xn.shape}")
    n = Xn.shape[0]
    if yn.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X {Xn.shape}, got {yn.shape}")
    if not np.isfinite(Xn).all():
        raise ValueError("X must be finite (found NaN or inf)")
    if not np.isfinite(yn).all():
        raise ValueError("y must be finite (found NaN or inf)")
    bad = np.flatnonzero(np.abs(yn) > 1.0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"y must lie in [-1, 1]; y[{i}] = {float(yn[i])!r}")
    if labels == "sign":
        bad = np.flatnonzero(np.abs(yn) != 1.0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"y must hold labels in {{-1, +1}}; y[{i}] = {float(yn[i])!r}")
    duplicate = find_duplicate(Xn)
    if duplicate is not None:
        i, j = duplicate
        raise ValueError(f"X has duplicate points: rows {i} and {j} are equal")
    if sphere:
        norms = np.linalg.norm(Xn, axis=1)
        off = np.flatnonzero(np.abs(norms - 1.0) > SPHERE_TOL)
        if off.size:
            i = int(off[0])
            raise ValueError(
                f"X must lie on the unit sphere (| ||x_i|| - 1 | <= {SPHERE_TOL}); "
                f"||X[{i}]|| = {float(norms[i])!r}"
            )
    return Xn, yn


def find_duplicate(X: np.ndarray) -> tuple[int, int] | None:
    """The first pair (i, j), i < j, of equal rows of X, or None."""
    order = np.lexsort(X.T[::-1])
    sorted_rows = X[order]
    same = np.flatnonzero((sorted_rows[1:] == sorted_rows[:-1]).all(axis=1))
    if same.size == 0:
        return None
    i, j = sorted(int(v) for v in order[[same[0], same[0] + 1]])
    return i, j


def check_unit_interval_closed_right(name: str, value: object) -> float:
    """A number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    as_float = float(value)
    if not (0.0 < as_float <= 1.0):
        raise ValueError(f"{name} must lie in (0, 1], got {value!r}")
    return as_float


def check_positive(name: str, value: object) -> float:
    """A positive finite number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or as_float <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return as_float


def check_positive_int(name: str, value: object) -> int:
    """A positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_dtype(dtype: object) -> torch.dtype:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype  # type: ignore[return-value]


def max_inner_product(X: np.ndarray) -> float:
    """max_{i != j} <x_i, x_j> (-inf for a single point)."""
    n = X.shape[0]
    if n < 2:
        return -math.inf
    G = X @ X.T
    np.fill_diagonal(G, -np.inf)
    return float(G.max())


def min_distance(X: np.ndarray) -> float:
    """min_{i != j} ||x_i - x_j|| (inf for a single point), computed from differences."""
    n = X.shape[0]
    if n < 2:
        return math.inf
    best = math.inf
    chunk = max(1, 2_000_000 // max(1, n * X.shape[1]))
    for start in range(0, n, chunk):
        block = X[start : start + chunk]
        diff = block[:, None, :] - X[None, :, :]
        dist = np.sqrt((diff * diff).sum(axis=2))
        rows = np.arange(block.shape[0])
        dist[rows, start + rows] = np.inf
        best = min(best, float(dist.min()))
    return best
