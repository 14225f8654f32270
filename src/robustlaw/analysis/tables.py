"""Record tables: validation, which members fit, and the smoothest fit per cell.

Records are one row per trained or constructed network ("member"). The law bounds the
*smallest* Lipschitz constant among networks of a given size that fit, so the unit of
analysis is a **cell**: one configuration (data law, n, d, family, width, ...) and one seed,
reduced over the members that fit. For members j of a cell with lower_j <= Lip_j <= upper_j,

    min_j lower_j  <=  min_j Lip_j  <=  min_j upper_j,

so the cell's lower bound is the minimum of the members' lower bounds (valid only when every
fitted member has one), its upper bound the minimum of the known upper bounds (any member's
certified bound bounds the minimum), and its exact value the minimum of exact values when
every fitted member has one. A member's exact value, when proven, replaces both its bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "CELL_KEYS",
    "LIP_COLUMNS",
    "QUANTITY_LABELS",
    "fitted_mask",
    "heatmap_table",
    "numeric_column",
    "seed_summary",
    "smoothest_fits",
    "validate_records",
]

#: Columns that define a cell (a configuration and a seed); members of a cell differ only
#: in what the records do not distinguish (penalties, restarts, fit strategies).
CELL_KEYS: tuple[str, ...] = (
    "experiment",
    "distribution",
    "labels",
    "n",
    "d",
    "intrinsic_dim",
    "noise_level",
    "family",
    "activation",
    "width",
    "depth",
    "p",
    "target",
    "eps",
    "seed",
)

#: The Lipschitz columns, fitted separately.
LIP_COLUMNS: tuple[str, ...] = ("lip_lower", "lip_upper", "lip_exact")

#: How each fitted quantity is named in statements, and what kind of number it is.
QUANTITY_LABELS: dict[str, tuple[str, str]] = {
    "lip_lower": ("lower bound", "lower bound on Lip (value at a witness)"),
    "lip_upper": ("upper bound", "certified upper bound on Lip"),
    "lip_exact": ("exact", "exact Lip (proven)"),
    "sensitivity": ("sensitivity", "estimate: √d·‖∇f(z)‖ averaged over test points"),
}

_REQUIRED = ("experiment", "status")


def validate_records(records: object) -> pd.DataFrame:
    """Check that ``records`` is a DataFrame with the columns every analysis needs.

    Parameters
    ----------
    records : pandas.DataFrame
        One row per member; see the column contract in ``robustlaw.analysis``.

    Returns
    -------
    pandas.DataFrame
        The same frame (not copied).
    """
    if not isinstance(records, pd.DataFrame):
        raise TypeError(f"records must be a pandas DataFrame, got {type(records).__name__}")
    missing = [c for c in _REQUIRED if c not in records.columns]
    if missing:
        raise ValueError(
            f"records lack the required column(s) {missing}; present: {list(records.columns)}"
        )
    return records


def numeric_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as float64 (non-numbers, <NA> and a missing column give NaN)."""
    if name not in frame.columns:
        return pd.Series(math.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").astype("float64")


def _column(df: pd.DataFrame, name: str, default: float = math.nan) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(default, index=df.index, dtype=float)


def _normalized(records: pd.DataFrame) -> pd.DataFrame:
    """A copy with nullable numeric columns (Int64, Float64, ...) as float64, <NA> as NaN.

    Stores return nullable dtypes; numpy conversions of their missing values would fail.
    """
    out = records.copy()
    for name, dtype in out.dtypes.items():
        if (
            isinstance(dtype, pd.api.extensions.ExtensionDtype)
            and pd.api.types.is_numeric_dtype(dtype)
            and not pd.api.types.is_bool_dtype(dtype)
        ):
            out[name] = out[name].astype("float64")
    return out


def _truth(value: object) -> bool:
    """A stored flag as a bool: True/1/"true"/"yes" are true; missing values are false."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def fitted_mask(records: pd.DataFrame) -> tuple[pd.Series, str]:
    """Which members finished (status "done") and reached their fit target.

    ``fit_reached`` decides when recorded (missing values count as not reached). Without
    that column, a "below_noise" member fits when train_mse <= noise_level - eps, the
    definition of fitting below the noise level [BS]; other members cannot be judged and
    count as not fitted.

    Returns
    -------
    mask : pandas.Series of bool
    how : str
        One sentence saying how fitting was decided.
    """
    records = validate_records(records)
    done = records["status"].astype(str).eq("done")
    if "fit_reached" in records.columns:
        reached = records["fit_reached"].map(_truth)
        return done & reached.astype(bool), "status done and fit_reached"
    target = _column(records, "target").astype(object)
    mse = numeric_column(records, "train_mse")
    sigma2 = numeric_column(records, "noise_level")
    eps = numeric_column(records, "eps")
    reached = target.eq("below_noise") & (mse <= sigma2 - eps)
    return (
        done & reached.fillna(False).astype(bool),
        "status done and train_mse ≤ noise_level − eps (fit_reached not recorded)",
    )


def _exact_or(records: pd.DataFrame, column: str) -> pd.Series:
    exact = numeric_column(records, "lip_exact")
    value = numeric_column(records, column)
    return exact.where(exact.notna(), value)


def _min_if_all(values: pd.Series) -> float:
    return float(values.min()) if values.notna().all() and len(values) else math.nan


def smoothest_fits(records: pd.DataFrame) -> pd.DataFrame:
    """Reduce members to cells: the smoothest fitted member's certified interval per cell.

    Parameters
    ----------
    records : pandas.DataFrame
        Member records (any status).

    Returns
    -------
    pandas.DataFrame
        One row per cell among members with status "done": the cell keys present in
        ``records``; ``n_members`` and ``n_fitted``; ``fit_reached`` (some member fits);
        ``lip_lower``, ``lip_upper``, ``lip_exact`` as in the module docstring (NaN when no
        member fits or the bound is not available); ``lip_upper_method`` of the member with
        the smallest upper bound; ``lip_floor`` (the data floor: no exact interpolant of the
        cell's data is smoother; NaN when not recorded); ``sensitivity`` (smallest among
        fitted members; an estimate); ``train_mse`` (smallest among members); ``fit_seconds`` and
        ``lip_seconds`` (sums); and the derived ``n_over_k`` = n / width and ``d_eff``
        (intrinsic dimension when recorded, else d).
    """
    records = _normalized(validate_records(records))
    mask, _ = fitted_mask(records)
    done = records["status"].astype(str).eq("done")
    frame = records.loc[done].copy()
    frame["_fitted"] = mask.loc[done]
    frame["_lo"] = _exact_or(frame, "lip_lower")
    frame["_hi"] = _exact_or(frame, "lip_upper")
    frame["_exact"] = numeric_column(frame, "lip_exact")
    keys = [k for k in CELL_KEYS if k in frame.columns]
    rows = []
    for key, cell in frame.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        fitted = cell.loc[cell["_fitted"]]
        row = dict(zip(keys, key, strict=True))
        row["n_members"] = len(cell)
        row["n_fitted"] = len(fitted)
        row["fit_reached"] = len(fitted) > 0
        row["lip_lower"] = _min_if_all(fitted["_lo"])
        hi = fitted["_hi"]
        row["lip_upper"] = float(hi.min()) if hi.notna().any() else math.nan
        row["lip_exact"] = _min_if_all(fitted["_exact"])
        if "lip_upper_method" in fitted.columns and hi.notna().any():
            row["lip_upper_method"] = fitted.loc[hi.idxmin(), "lip_upper_method"]
        else:
            row["lip_upper_method"] = None
        floor = numeric_column(cell, "lip_floor")
        row["lip_floor"] = float(floor.median()) if floor.notna().any() else math.nan
        sens = numeric_column(fitted, "sensitivity")
        row["sensitivity"] = float(sens.min()) if sens.notna().any() else math.nan
        mse = numeric_column(cell, "train_mse")
        row["train_mse"] = float(mse.min()) if mse.notna().any() else math.nan
        for column in ("fit_seconds", "lip_seconds"):
            values = numeric_column(cell, column)
            row[column] = float(values.sum()) if values.notna().any() else math.nan
        rows.append(row)
    columns = [
        *keys,
        "n_members",
        "n_fitted",
        "fit_reached",
        *LIP_COLUMNS,
        "lip_upper_method",
        "lip_floor",
        "sensitivity",
        "train_mse",
        "fit_seconds",
        "lip_seconds",
    ]
    cells = pd.DataFrame(rows, columns=columns)
    n = numeric_column(cells, "n")
    width = numeric_column(cells, "width")
    cells["n_over_k"] = n / width
    d = numeric_column(cells, "d")
    intrinsic = numeric_column(cells, "intrinsic_dim")
    cells["d_eff"] = intrinsic.where(intrinsic.notna(), d)
    return cells


def heatmap_table(
    cells: pd.DataFrame, quantity: str = "lip_upper", rows: str = "n", columns: str = "width"
) -> pd.DataFrame:
    """Median over seeds of a cell quantity on a (rows x columns) grid, e.g. (n, k).

    A cell where no member fits counts as +inf (the smallest Lipschitz constant over an
    empty set of fits), so a grid point is +inf when at most half of its seeds fit, and NaN
    when the configuration was not run.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`smoothest_fits` (usually of one experiment).
    quantity : str
        Column to aggregate.
    rows, columns : str
        Grid axes.

    Returns
    -------
    pandas.DataFrame
        Index: sorted values of ``rows``; columns: sorted values of ``columns``.
    """
    for name in (quantity, rows, columns):
        if name not in cells.columns:
            raise ValueError(f"cells have no column {name!r}; present: {list(cells.columns)}")
    values = numeric_column(cells, quantity)
    if "fit_reached" in cells.columns:
        # The smallest Lipschitz constant over no fitting network is +inf.
        values = values.where(cells["fit_reached"].astype(bool), math.inf)
    frame = cells.assign(_value=values)
    grid = frame.pivot_table(
        index=rows, columns=columns, values="_value", aggfunc="median", dropna=False
    )
    all_rows = sorted(cells[rows].dropna().unique())
    all_columns = sorted(cells[columns].dropna().unique())
    return grid.reindex(index=all_rows, columns=all_columns)


def seed_summary(
    cells: pd.DataFrame, by: Sequence[str] | Iterable[str], value: str
) -> pd.DataFrame:
    """Median and quartiles of ``value`` over seeds, per combination of ``by``.

    Returns
    -------
    pandas.DataFrame
        Columns: ``by``..., ``median``, ``q25``, ``q75``, ``count`` (finite values only).
    """
    by = list(by)
    for name in [*by, value]:
        if name not in cells.columns:
            raise ValueError(f"cells have no column {name!r}; present: {list(cells.columns)}")
    values = numeric_column(cells, value)
    frame = cells.assign(_value=values.where(np.isfinite(values)))
    grouped = frame.groupby(by, dropna=False, sort=True)["_value"]
    out = grouped.agg(
        median="median",
        q25=lambda s: s.quantile(0.25),
        q75=lambda s: s.quantile(0.75),
        count="count",
    )
    return out.reset_index()
