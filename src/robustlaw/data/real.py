"""Real data that works offline: scikit-learn's digits, MNIST-1D generated procedurally, files.

Built-in data sets
------------------
- ``"digits"``: scikit-learn's 8x8 digits, 1797 x 64, classes 0-9 (shipped with
  scikit-learn, no download). ``split`` must be ``"all"`` (the default for digits).
- ``"mnist1d"``: MNIST-1D generated with ``mnist1d.data.make_dataset`` and its default
  arguments ``mnist1d.data.get_dataset_args()`` (never its download path): 5000 signals of
  length 40, split 4000 train / 1000 test, classes 0-9. ``make_dataset`` reseeds Python's and
  numpy's global RNGs; their states are saved and restored around the call.

Both need the optional extra ``robustlaw[data]`` (scikit-learn, mnist1d), imported lazily.

User files (naming convention)
------------------------------
- ``.npy``: one 2-D numeric array, the features X (n, d); no labels.
- ``.npz``: array ``"X"`` (features, required; ``features_key``) and the labels array, if
  any: ``labels_key``, else the one array named ``y``, ``label``, ``labels``, ``target`` or
  ``class`` (:data:`LABEL_NAMES`, any case).
- ``.csv`` and ``.parquet`` (needs ``robustlaw[parquet]``): the label column is
  ``label_column``, else the one column named as in :data:`LABEL_NAMES` (two such columns
  are refused: name one); every other column is a feature and must be numeric. A CSV
  whose first row holds only numbers has no header row: it is read as data, its columns
  are named ``"0"``, ``"1"``, ... and labels come only from ``label_column``. A line with
  more or fewer fields than the first is an error naming the line.

:func:`save_dataset` writes X and y in this convention.

Preprocessing (:func:`load_dataset`)
------------------------------------
- ``normalize=True``: center and scale to mean norm 1 (the normalization of [BS], where
  typical points have norm about 1); the center and scale are in ``meta.params``.
- ``classes=a``: one class against the rest (+1 for a, -1 otherwise); ``classes=(a, b)``: keep
  the rows of classes a and b, labelled +1 and -1.
- ``rescale=True``: map labels affinely from [min, max] onto [-1, 1].
- ``flip_prob=q``: flip each +-1 label with probability q. Then
  Var(y'|x) = 1 - (1 - 2q)^2 E[y|x]^2 >= 4 q (1 - q), so sigma^2 >= 4 q (1 - q), with equality
  when the clean labels are a function of x; the noise level is reported as this
  ``"lower_bound"`` (fitting below it is fitting below the true noise level).

Labels outside [-1, 1] without ``classes``, ``rescale`` or ``labels=False`` are an error.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustlaw._names import ArgumentError, unknown_name
from robustlaw.data._validation import (
    as_points,
    generator,
    require_device,
    require_dtype,
    require_real,
    require_seed,
)
from robustlaw.data.meta import Sample, SampleMeta

__all__ = [
    "BUILTIN_DATASETS",
    "FILE_SUFFIXES",
    "LABEL_NAMES",
    "WORDS",
    "load_dataset",
    "normalize_features",
    "save_dataset",
]

BUILTIN_DATASETS = ("digits", "mnist1d")
FILE_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def _missing(package: str, extra: str, exc: ImportError) -> ImportError:
    return ImportError(
        f"{package} is needed for this and is not installed ({exc}); "
        f"install the optional extra: pip install 'robustlaw[{extra}]'"
    )


# --------------------------------------------------------------------------- sources


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    if split != "all":
        raise ValueError(f"split must be 'all' for digits (no train/test split), got {split!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise _missing("scikit-learn", "data", exc) from exc
    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _mnist1d_default() -> dict[str, np.ndarray]:
    """MNIST-1D from ``make_dataset(get_dataset_args())``, generated once per process."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise _missing("mnist1d", "data", exc) from exc
    # mnist1d seeds the legacy global generators: save and restore them around the call.
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    arrays = {
        key: np.asarray(data[key], dtype=np.float64) for key in ("x", "y", "x_test", "y_test")
    }
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _load_mnist1d(split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all' for mnist1d, got {split!r}")
    data = _mnist1d_default()
    if split == "train":
        X, y = data["x"], data["y"]
    elif split == "test":
        X, y = data["x_test"], data["y_test"]
    else:
        X = np.concatenate([data["x"], data["x_test"]])
        y = np.concatenate([data["y"], data["y_test"]])
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


#: Column (or .npz array) names read as labels when no label column is named.
LABEL_NAMES = ("y", "label", "labels", "target", "class")

#: How :func:`load_dataset` spells its arguments in messages (see ArgumentError.worded).
WORDS = {
    "classes": "classes",
    "classes_hint": "classes=a (one vs rest) or classes=(a, b)",
    "rescale": "rescale=True",
    "labels": "labels=False",
    "flip_prob": "flip_prob",
    "split": "split",
    "label_column": "label_column",
    "labels_key": "labels_key",
}


def _words(*names: str) -> dict[str, str]:
    return {name: WORDS[name] for name in names}


def _label_name(names: Sequence[str], given: str | None, source: str, argument: str) -> str | None:
    """The label column (or array) among ``names``: ``given``, else the one name in
    :data:`LABEL_NAMES` (any case), else None; two candidates are refused."""
    if given is not None:
        if given not in names:
            raise ValueError(f"{source} has no label column {given!r}; columns: {list(names)}")
        return given
    found = [name for name in names if name.lower() in LABEL_NAMES]
    if len(found) > 1:
        raise ArgumentError(
            "{source} has several label columns {found}: name the one to use with "
            f"{{{argument}}} (columns: {{names}})",
            _words(argument),
            source=source,
            found=found,
            names=list(names),
        )
    return found[0] if found else None


def _numeric_frame(frame: Any, source: str, label: str | None) -> tuple:
    import pandas as pd

    y = None
    features = frame
    if label is not None:
        labels = frame[label]
        features = frame.drop(columns=[label])
        if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
            raise ValueError(f"label column {label!r} of {source} is not numeric")
        y = labels.to_numpy(dtype=np.float64)
    if features.shape[1] == 0:
        raise ValueError(f"{source} has no feature columns (columns: {list(frame.columns)})")
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ValueError(f"feature columns {bad} of {source} are not numeric")
    return features.to_numpy(dtype=np.float64), y


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _read_csv(path: Path, source: str) -> tuple[Any, bool]:
    """The CSV as a frame with string column names, and whether it had a header row.

    A first row made only of numbers is data (columns are then named "0", "1", ...);
    a line with more fields than the first, or fewer, is an error naming the line.
    """
    import pandas as pd

    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{source} is empty") from None
    header = not all(_is_number(value) for value in first.iloc[0])
    try:
        frame = pd.read_csv(path, header=0 if header else None)
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found is None:
            raise ValueError(f"{source} is not a readable CSV file: {exc}") from None
        expected, line, saw = found.groups()
        raise ValueError(
            f"{source} line {line} has {saw} fields, expected {expected} as in line 1"
        ) from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[0] == 0:
        raise ValueError(f"{source} has no rows")
    short = frame.isna().any(axis=1).to_numpy()
    if short.any():
        line = int(np.argmax(short)) + (2 if header else 1)
        raise ValueError(
            f"{source} line {line} has an empty or missing field (read as NaN); "
            f"expected {frame.shape[1]} fields as in line 1"
        )
    return frame, header


def _read_parquet(path: Path, source: str) -> Any:
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise _missing("pyarrow", "parquet", exc) from exc
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow.ArrowInvalid and friends: not a Parquet file
        raise ValueError(f"{source} is not a readable Parquet file: {exc}") from None
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[0] == 0:
        raise ValueError(f"{source} has no rows")
    return frame


def _read_npz(
    path: Path, source: str, features_key: str, labels_key: str | None
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{source} is not a readable .npz archive: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{source} is a .npy array, not a .npz archive: rename it to .npy")
    with archive:
        keys = list(archive.keys())
        if features_key not in keys:
            raise ValueError(
                f"{source} has no features array {features_key!r}; arrays found: {keys}"
            )
        others = [key for key in keys if key != features_key]
        label = _label_name(others, labels_key, source, "labels_key")
        try:
            X = archive[features_key]
            y = archive[label] if label is not None else None
        except ValueError as exc:  # object arrays refused by allow_pickle=False
            raise ValueError(f"{source} holds a non-numeric array: {exc}") from None
    return X, y, label


def _read_npy(path: Path, source: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{source} is not a plain numeric .npy array: {exc}") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise ValueError(f"{source} is a .npz archive, not a .npy array: rename it to .npz")
    return array


def _load_file(
    path: Path, features_key: str, labels_key: str | None, label_column: str | None
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Features, labels (or None) and what was read: the label column, the header row."""
    suffix = path.suffix.lower()
    source = repr(str(path))
    if path.is_dir():
        raise ValueError(f"{source} is a directory, not a data file ({', '.join(FILE_SUFFIXES)})")
    if not suffix and not path.exists():
        raise ValueError(
            f"{unknown_name(str(path), BUILTIN_DATASETS, 'data set')}; or a file: "
            f"{', '.join(FILE_SUFFIXES)}"
        )
    if suffix not in FILE_SUFFIXES:
        raise ValueError(
            f"unknown file type {suffix or '(none)'!r} for {str(path)!r}; supported: "
            f"{', '.join(FILE_SUFFIXES)} or a built-in data set {BUILTIN_DATASETS}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if path.stat().st_size == 0:
        raise ValueError(f"{source} is empty (0 bytes)")
    if suffix == ".npy":
        return _read_npy(path, source), None, {}
    if suffix == ".npz":
        X, y, label = _read_npz(path, source, features_key, labels_key)
        return X, y, {"labels_key": label}
    if suffix == ".csv":
        frame, header = _read_csv(path, source)
    else:
        frame, header = _read_parquet(path, source), True
    label = _label_name(list(frame.columns), label_column, source, "label_column")
    X, y = _numeric_frame(frame, source, label)
    return X, y, {"label_column": label, "header": header}


# --------------------------------------------------------------------------- preprocessing


def normalize_features(
    X: torch.Tensor, center: torch.Tensor | None = None, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Center and scale X (n, d) to mean norm 1, the normalization of [BS].

    With ``center``/``scale`` given (e.g. from a training set) they are applied as they are.
    Returns (X', center (d,), scale) with X' = (X - center) / scale.
    """
    if center is None:
        center = X.mean(dim=0)
    centered = X - center
    if scale is None:
        scale = float(centered.norm(dim=1).mean())
        if not scale > 0:
            raise ValueError("X has all points equal after centering: it cannot be normalized")
    return centered / scale, center, float(scale)


def _class_labels(raw: np.ndarray, classes: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, +-1 labels of the kept rows) for one-vs-rest or two-class selection."""
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        chosen = [classes]
    else:
        chosen = list(classes)
    if len(chosen) not in (1, 2):
        raise ValueError(f"classes must be one class (one vs rest) or two classes, got {classes!r}")
    present = np.unique(raw)
    for value in chosen:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValueError(f"classes must be numbers, got {value!r}")
        if value not in present:
            raise ValueError(
                f"class {value!r} does not occur in the labels of {source}; "
                f"classes present: {present.tolist()[:20]}"
            )
    if len(chosen) == 2 and chosen[0] == chosen[1]:
        raise ValueError(f"classes must be two different classes, got {classes!r}")
    if len(chosen) == 1:
        return np.ones(raw.shape[0], dtype=bool), np.where(raw == chosen[0], 1.0, -1.0)
    mask = (raw == chosen[0]) | (raw == chosen[1])
    return mask, np.where(raw[mask] == chosen[0], 1.0, -1.0)


def load_dataset(
    source: str | os.PathLike,
    *,
    split: str | None = None,
    classes: object = None,
    rescale: bool = False,
    labels: bool = True,
    normalize: bool = True,
    flip_prob: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype | str = torch.float32,
    device: str | torch.device = "cpu",
    features_key: str = "X",
    labels_key: str | None = None,
    label_column: str | None = None,
) -> Sample:
    """Load a built-in data set or a user file as a :class:`Sample`, preprocessed.

    Parameters
    ----------
    source : str or path
        ``"digits"``, ``"mnist1d"`` or a path to a ``.npy``/``.npz``/``.csv``/``.parquet`` file
        (see the module docstring for the naming convention).
    split : str, optional
        ``"all"`` for digits; ``"train"`` (default), ``"test"`` or ``"all"`` for mnist1d; not
        used for files.
    classes : int or (int, int), optional
        One class against the rest, or two classes, as +-1 labels.
    rescale : bool
        Map labels affinely from [min, max] onto [-1, 1].
    labels : bool
        ``False`` returns no labels (y is ``None``).
    normalize : bool
        Center and scale to mean norm 1 (default).
    flip_prob : float in [0, 1/2]
        Flip +-1 labels with this probability; sigma^2 >= 4 q (1 - q) is then reported.
    seed : int
        Seed of the local generator used for flips.
    dtype, device
        Of the returned tensors.
    features_key : str
        Features array of a ``.npz`` file.
    labels_key : str, optional
        Labels array of a ``.npz`` file (default: the one array named as in
        :data:`LABEL_NAMES`, if any; when given it must exist).
    label_column : str, optional
        Label column of a ``.csv``/``.parquet`` file (default: the one column named as in
        :data:`LABEL_NAMES`, any case, if any; two such columns are refused; when given it
        must exist). A CSV whose first row holds only numbers has no header: its columns
        are named "0", "1", ... and it has labels only when ``label_column`` names one.

    Returns
    -------
    Sample
        ``meta.intrinsic_dim`` and ``meta.isoperimetry_c`` are ``None`` (unknown for real
        data: estimate them with :func:`robustlaw.data.intrinsic_dimension` and
        :func:`robustlaw.data.probe_isoperimetry`).
    """
    dtype = require_dtype(dtype)
    device = require_device(device)
    seed = require_seed(seed)
    q = require_real("flip_prob", flip_prob, low=0.0, high=0.5)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"source must be a name or a path, got {type(source).__name__}")
    name = os.fspath(source)
    read: dict[str, Any] = {}
    if name in BUILTIN_DATASETS:
        split = ("all" if name == "digits" else "train") if split is None else split
        X_raw, raw = _load_digits(split) if name == "digits" else _load_mnist1d(split)
        label = name
        source_name = f"{name!r}"
    else:
        if split is not None:
            raise ArgumentError(
                "{split} applies to built-in data sets only, got {value!r}",
                _words("split"),
                value=split,
            )
        path = Path(name)
        X_raw, raw, read = _load_file(path, features_key, labels_key, label_column)
        label = f"file:{path.name}"
        source_name = repr(str(path))
    X = as_points(X_raw, f"features of {source_name}")
    n_raw = X.shape[0]

    y: torch.Tensor | None = None
    label_name: str | None = None
    label_params: dict[str, Any] = {}
    noise_level: float | None = None
    noise_kind: str | None = None
    preprocessing_given = classes is not None or rescale or q > 0
    if not labels:
        if preprocessing_given:
            raise ArgumentError(
                "{classes}, {rescale} and {flip_prob} need labels; {labels} drops them",
                _words("classes", "rescale", "flip_prob", "labels"),
            )
    elif raw is None:
        if preprocessing_given:
            raise ArgumentError(
                "{source} has no labels; {classes}, {rescale} and {flip_prob} need them",
                _words("classes", "rescale", "flip_prob"),
                source=source_name,
            )
    else:
        raw = np.asarray(raw)
        if raw.ndim != 1 or raw.shape[0] != n_raw:
            raise ValueError(f"labels of {source_name} have shape {raw.shape}, expected ({n_raw},)")
        if raw.dtype == object or not np.issubdtype(raw.dtype, np.number):
            raise ValueError(f"labels of {source_name} are not numeric (dtype {raw.dtype})")
        raw = raw.astype(np.float64)
        if not np.isfinite(raw).all():
            raise ValueError(
                f"labels of {source_name} hold {int((~np.isfinite(raw)).sum())} NaN/inf values"
            )
        if classes is not None and rescale:
            raise ArgumentError(
                "give {classes} or {rescale}, not both", _words("classes", "rescale")
            )
        if classes is not None:
            mask, values = _class_labels(raw, classes, source_name)
            X = X[torch.from_numpy(mask)]
            label_name = "classes"
            chosen = [classes] if not isinstance(classes, Sequence) else list(classes)
            label_params = {"classes": [float(c) for c in chosen]}
        elif rescale:
            low, high = float(raw.min()), float(raw.max())
            if low == high:
                raise ValueError(f"labels of {source_name} are constant ({low:g}): cannot rescale")
            values = 2.0 * (raw - low) / (high - low) - 1.0
            label_name = "rescaled"
            label_params = {"rescaled_from": [low, high]}
        else:
            low, high = float(raw.min()), float(raw.max())
            if low < -1.0 or high > 1.0:
                raise ArgumentError(
                    "labels of {source} lie in [{low:g}, {high:g}], outside [-1, 1]: pass "
                    "{classes_hint}, {rescale}, or {labels}",
                    _words("classes_hint", "rescale", "labels"),
                    source=source_name,
                    low=low,
                    high=high,
                )
            values = raw
            label_name = "raw"
        if q > 0:
            if not np.isin(values, (-1.0, 1.0)).all():
                raise ArgumentError(
                    "{flip_prob} needs +-1 labels: select {classes} first",
                    _words("flip_prob", "classes"),
                )
            flips = torch.rand(len(values), generator=generator(seed), dtype=torch.float32) < q
            values = np.where(flips.numpy(), -values, values)
            noise_level, noise_kind = 4.0 * q * (1.0 - q), "lower_bound"
            label_params["flip_prob"] = q
        y = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))

    params: dict[str, Any] = {"source": name, "normalize": bool(normalize), "n_raw": n_raw}
    params.update(read)
    if name in BUILTIN_DATASETS:
        params["split"] = split
    if normalize:
        X, center, scale = normalize_features(X)
        params.update(scale=scale, center_norm=float(center.norm()))
    meta = SampleMeta(
        distribution=label,
        n=int(X.shape[0]),
        d=int(X.shape[1]),
        intrinsic_dim=None,
        isoperimetry_c=None,
        labels=label_name,
        seed=seed,
        params=params,
        noise_level=noise_level,
        noise_level_kind=noise_kind,
        label_params=label_params,
        dtype=str(dtype).removeprefix("torch."),
        device=str(device),
    )
    X_out = X.to(dtype=dtype, device=device)
    y_out = None if y is None else y.to(dtype=dtype, device=device)
    return Sample(X_out, y_out, meta)


def save_dataset(
    path: str | os.PathLike,
    X: object,
    y: object = None,
    *,
    features_key: str = "X",
    labels_key: str = "y",
    label_column: str = "y",
) -> Path:
    """Write X (n, d) and optional labels y (n,) in the convention :func:`load_dataset` reads.

    ``.npy`` holds X only; ``.npz`` arrays ``features_key``/``labels_key``; ``.csv`` and
    ``.parquet`` columns ``x0 .. x{d-1}`` and ``label_column``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise ValueError(f"unknown file type {suffix or '(none)'!r}; supported: {FILE_SUFFIXES}")
    points = as_points(X).cpu().numpy()
    labels = None
    if y is not None:
        labels = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=float)
        if labels.shape != (points.shape[0],):
            raise ValueError(f"y has shape {labels.shape}, expected ({points.shape[0]},)")
        if not np.isfinite(labels).all():
            raise ValueError("y holds NaN or infinite values")
    if suffix == ".npy":
        if labels is not None:
            raise ValueError("a .npy file holds features only; use .npz, .csv or .parquet")
        np.save(path, points)
    elif suffix == ".npz":
        arrays = {features_key: points}
        if labels is not None:
            arrays[labels_key] = labels
        np.savez(path, **arrays)
    else:
        import pandas as pd

        frame = pd.DataFrame(points, columns=[f"x{i}" for i in range(points.shape[1])])
        if labels is not None:
            if label_column in frame.columns:
                raise ValueError(f"label_column {label_column!r} clashes with a feature column")
            frame[label_column] = labels
        if suffix == ".csv":
            frame.to_csv(path, index=False, float_format="%.17g")
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise _missing("pyarrow", "parquet", exc) from exc
            frame.to_parquet(path, index=False)
    return path
