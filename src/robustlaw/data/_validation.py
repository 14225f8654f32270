"""Checks at the boundary of :mod:`robustlaw.data`: counts, seeds, dtypes, devices, point clouds.

Every function raises ``ValueError`` (or ``TypeError`` for a wrong kind of object) naming the
argument and the offending value; code behind the boundary trusts what these return.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

#: Floating dtypes the samplers produce.
FLOAT_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def require_count(name: str, value: object, minimum: int = 1) -> int:
    """A whole number >= ``minimum``. Integral floats such as ``1e4`` are accepted exactly."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, numbers.Integral):
        as_int = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or not as_float.is_integer():
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        as_int = int(as_float)
    if as_int < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return as_int


def require_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval given by ``low``/``high`` (closed unless ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (as_float < low or (low_open and as_float == low)):
        relation = ">" if low_open else ">="
        raise ValueError(f"{name} must be {relation} {low:g}, got {value!r}")
    if high is not None and (as_float > high or (high_open and as_float == high)):
        relation = "<" if high_open else "<="
        raise ValueError(f"{name} must be {relation} {high:g}, got {value!r}")
    return as_float


def require_seed(value: object, name: str = "seed") -> int:
    """A non-negative integer seed below 2^63 (what ``torch.Generator.manual_seed`` accepts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    seed = int(value)
    if not 0 <= seed < 2**63:
        raise ValueError(f"{name} must lie in [0, 2^63), got {value!r}")
    return seed


def require_dtype(value: object) -> torch.dtype:
    """torch.float32 or torch.float64 (or their names)."""
    if isinstance(value, str) and value in FLOAT_DTYPES:
        return FLOAT_DTYPES[value]
    if isinstance(value, torch.dtype) and value in FLOAT_DTYPES.values():
        return value
    raise ValueError(f"dtype must be torch.float32 or torch.float64, got {value!r}")


def require_device(value: object) -> torch.device:
    """A torch device that exists on this machine."""
    if not isinstance(value, str | torch.device):
        raise ValueError(f"device must be a string or torch.device, got {value!r}")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device {value!r} is not a valid torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {value!r} requested but CUDA is not available on this machine")
    return device


def generator(seed: int) -> torch.Generator:
    """A local CPU generator. All draws happen on the CPU so a seed means the same data on
    every device; the global RNG is never touched."""
    return torch.Generator(device="cpu").manual_seed(seed)


def _to_numpy_2d(X: object, name: str) -> np.ndarray:
    if isinstance(X, torch.Tensor):
        array = X.detach().cpu().numpy()
    elif isinstance(X, np.ndarray):
        array = X
    else:
        try:
            array = np.asarray(X)
        except ValueError as exc:  # ragged nested sequences
            raise ValueError(f"{name} is ragged (rows of different lengths): {exc}") from None
    if array.dtype == object:
        raise ValueError(f"{name} is ragged or holds non-numeric objects (dtype=object)")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def as_points(X: object, name: str = "X", *, min_points: int = 1) -> torch.Tensor:
    """Validate a point cloud and return it as a float64 tensor of shape (n, d).

    Accepts a torch tensor (its device is kept), a numpy array or a nested sequence.
    Raises ``ValueError`` for ragged, empty, non-2-D, non-numeric or non-finite input.
    """
    if isinstance(X, torch.Tensor):
        if X.is_complex() or X.dtype == torch.bool:
            raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
        tensor = X.detach()
    else:
        array = np.ascontiguousarray(_to_numpy_2d(X, name))
        if not array.flags.writeable:
            array = array.copy()
        tensor = torch.from_numpy(array)
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n, d), got shape {tuple(tensor.shape)}")
    n, d = tensor.shape
    if n == 0 or d == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tensor.shape)}")
    if n < min_points:
        raise ValueError(f"{name} needs at least {min_points} points, got {n}")
    tensor = tensor.to(torch.float64)
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite values")
    return tensor


def as_labels(y: object, n: int, name: str = "y") -> torch.Tensor:
    """Validate labels for n points: 1-D, length n, finite, inside [-1, 1]; float64 tensor."""
    if isinstance(y, torch.Tensor):
        if y.is_complex():
            raise ValueError(f"{name} must hold real numbers, got dtype {y.dtype}")
        tensor = y.detach().to(torch.float64)
    else:
        try:
            array = np.asarray(y)
        except ValueError as exc:
            raise ValueError(f"{name} is ragged: {exc}") from None
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.floating)
            or np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.bool_)
        ):
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
    if tensor.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n,), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] != n:
        raise ValueError(f"{name} has {tensor.shape[0]} labels for {n} points")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds {int((~torch.isfinite(tensor)).sum())} NaN/inf values")
    low, high = float(tensor.min()), float(tensor.max())
    if low < -1.0 or high > 1.0:
        raise ValueError(
            f"{name} lies in [{low:g}, {high:g}], outside [-1, 1]; rescale it explicitly "
            "(e.g. load_dataset(..., rescale=True)) or select classes"
        )
    return tensor


def plain(value: object) -> object:
    """A JSON-ready copy of a parameter value: tuples become lists, numpy/torch scalars floats."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, torch.Tensor | np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return value
