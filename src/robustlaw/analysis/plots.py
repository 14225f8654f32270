"""Paper-quality figures of records (matplotlib, Agg canvas; no pyplot state).

Every plot function takes a prepared DataFrame and options and returns a
:class:`matplotlib.figure.Figure` sized for a paper column (3.3 in wide, fonts >= 7 pt).
The numbers come from the analysis: :func:`robustlaw.analysis.tables.smoothest_fits` (cells),
:func:`~robustlaw.analysis.tables.heatmap_table`, :func:`~robustlaw.analysis.tables.seed_summary`
and the fits of :func:`robustlaw.analysis.verdicts.assess`; the functions here only draw.
:func:`save_figure` writes PNG (300 dpi), PDF and SVG.

Axis labels say what each number is: lower bounds are values at witnesses, upper bounds are
certified, exact values are proven, sensitivities are estimates.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from robustlaw.analysis.powerlaw import PowerLawFit
from robustlaw.analysis.tables import numeric_column

__all__ = [
    "COLUMN_WIDTH",
    "MIN_FONT_SIZE",
    "PAPER_RC",
    "Reference",
    "new_figure",
    "plot_constructions",
    "plot_fit_quality",
    "plot_lipschitz_heatmap",
    "plot_lipschitz_scaling",
    "plot_lipschitz_vs_n_over_k",
    "plot_sensitivity",
    "save_figure",
    "text_safe",
]

#: Width of one paper column, inches.
COLUMN_WIDTH = 3.3
#: Smallest font size used anywhere, points.
MIN_FONT_SIZE = 7.0
#: Raster resolution of saved PNGs.
PNG_DPI = 300
#: Formats :func:`save_figure` writes.
FORMATS = ("png", "pdf", "svg")

PAPER_RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
}

#: Colours per fitted quantity (colour-blind safe Okabe-Ito palette).
QUANTITY_STYLE: dict[str, dict[str, str]] = {
    "lip_lower": {"color": "#0072B2", "label": "lower bound"},
    "lip_upper": {"color": "#D55E00", "label": "certified upper bound"},
    "lip_exact": {"color": "#000000", "label": "exact"},
    "sensitivity": {"color": "#009E73", "label": "sensitivity"},
}
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


Reference = tuple[Sequence[float], Sequence[float], str]
"""A reference line: (x values, y values, legend label), e.g. the law's sqrt(n/k)."""


def text_safe(value: Any) -> str:
    """Text from records made safe for matplotlib: ``$`` would start mathtext."""
    return str(value).replace("$", r"\$")


@contextmanager
def _paper_style():
    with mpl.rc_context(PAPER_RC):
        yield


def new_figure(height: float = 2.4, width: float = COLUMN_WIDTH) -> Figure:
    """A Figure on an Agg canvas, constrained layout, ``width`` x ``height`` inches."""
    if not (math.isfinite(width) and width > 0 and math.isfinite(height) and height > 0):
        raise ValueError(f"figure size must be positive, got width={width!r}, height={height!r}")
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; present: {list(frame.columns)}")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    return numeric_column(frame, column).to_numpy()


def _g(value: float, _pos: Any = None) -> str:
    return f"{value:g}"


def _tidy_log_axis(axis) -> None:
    """Plain-number tick labels on a log axis; minor labels only within about one decade."""
    low, high = sorted(axis.get_view_interval())
    decades = math.log10(high / low) if low > 0 and high > 0 else math.inf
    axis.set_major_formatter(ticker.FuncFormatter(_g))
    if decades < 2.5:
        axis.set_minor_formatter(
            ticker.FuncFormatter(
                lambda v, _pos: (
                    _g(v) if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""
                )
            )
        )
    else:
        axis.set_minor_formatter(ticker.NullFormatter())


#: Characters per legend line: a 7 pt label this long fits the column width.
LEGEND_WRAP = 52
#: Figure height added per legend line beyond the first few, inches (keeps the axes tall
#: enough for the axis labels when the legend below grows).
LEGEND_LINE_HEIGHT = 0.125


def _legend_below(fig: Figure, ax, ncols: int = 1) -> None:
    """The legend under the axes, labels wrapped to the column, the figure grown to hold it.

    Constrained layout keeps the legend and every label inside the figure; the figure keeps
    its width (a paper column) and grows in height with the legend's lines.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    width = LEGEND_WRAP if ncols == 1 else LEGEND_WRAP // ncols
    labels = [textwrap.fill(label, width) for label in labels]
    lines = sum(label.count("\n") + 1 for label in labels) / ncols
    extra = max(0.0, lines - 4) * LEGEND_LINE_HEIGHT
    fig.set_figheight(fig.get_figheight() + extra)
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols)


def _positive_finite(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _empty_note(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_fit(ax, fit: PowerLawFit, color: str, label: str) -> None:
    xs = np.geomspace(fit.x_min, fit.x_max, 50)
    ax.plot(xs, fit.predict(xs), color=color, lw=1.0, label=label, zorder=4)
    if fit.band:
        band = np.asarray(fit.band, dtype=float)
        ax.fill_between(band[:, 0], band[:, 1], band[:, 2], color=color, alpha=0.2, lw=0, zorder=1)


def _draw_floor(
    ax,
    xs: np.ndarray,
    floor: np.ndarray,
    hues: np.ndarray,
    shown: np.ndarray,
    colors: dict[str, str] | None,
):
    """The data floor: one dashed median line per hue over x, the seeds' range as a band.

    Green without a hue; with one, each line takes its group's colour.
    """
    ok = shown & _positive_finite(floor)
    if not ok.any():
        return
    frame = pd.DataFrame({"x": xs[ok], "floor": floor[ok], "hue": hues[ok]})
    for i, (name, rows) in enumerate(frame.groupby("hue", sort=True)):
        per_x = rows.groupby("x")["floor"].agg(["median", "min", "max"]).sort_index()
        label = "data floor (least Lip of any exact interpolant; median over seeds, band: range)"
        color = colors[name] if colors else "#009E73"
        ax.plot(
            per_x.index,
            per_x["median"],
            color=color,
            ls="--",
            lw=0.9,
            marker="." if len(per_x) == 1 else None,
            label=label if i == 0 and not colors else None,
            zorder=2,
        )
        if i == 0 and colors:  # one neutral legend entry for the groups' floors
            ax.plot([], [], color="#555555", ls="--", lw=0.9, label=label)
        if (per_x["max"] > per_x["min"]).any() and len(per_x) > 1:
            ax.fill_between(per_x.index, per_x["min"], per_x["max"], color=color, alpha=0.12, lw=0)


def _fit_label(fit: PowerLawFit, quantity: str) -> str:
    name = QUANTITY_STYLE.get(quantity, {}).get("label", quantity)
    low, high = fit.slope_ci
    level = f"{100 * fit.confidence_level:g}%"
    if math.isfinite(low) and math.isfinite(high):
        return f"fit, {name}: {fit.slope:.2f} [{low:.2f}, {high:.2f}] ({level})"
    return f"fit, {name}: {fit.slope:.2f} (no interval)"


def plot_lipschitz_scaling(
    cells: pd.DataFrame,
    *,
    x: str,
    x_label: str,
    hue: str | None = None,
    fits: Sequence[tuple[str, PowerLawFit]] = (),
    references: Sequence[Reference] = (),
    title: str | None = None,
    height: float = 3.3,
) -> Figure:
    """Lipschitz constants vs a configuration variable, log-log, one bar per cell.

    Each cell (one configuration and seed; see ``smoothest_fits``) is a vertical bar from its
    lower bound (value at a witness) to its certified upper bound, with a black dot at the
    exact value when proven, and the data floor (``lip_floor``, when recorded: no exact
    interpolant of that cell's data is smoother) as a dashed line through its median over
    seeds at each x (green, or the group's colour with ``hue``), the seeds' range as a band.
    Cells outside the fit range (``in_range`` false) are drawn faded. ``fits`` are drawn as
    lines with their pointwise confidence bands; ``references`` as grey lines (the law's scaling).

    Parameters
    ----------
    cells : pandas.DataFrame
        Columns ``x``, ``lip_lower``, ``lip_upper``; optional ``lip_exact``, ``lip_floor``,
        ``in_range`` and ``hue``.
    x, x_label : str
        Column on the horizontal axis and its axis label.
    hue : str, optional
        Column whose values get one colour each.
    fits : sequence of (quantity, PowerLawFit)
        Fitted power laws to overlay (quantity: ``lip_lower``, ``lip_upper``, ...).
    references : sequence of (x, y, label)
    title : str, optional
    height : float
        Figure height, inches.
    """
    _require(cells, "cells", [x, "lip_lower", "lip_upper"])
    with _paper_style():
        fig = new_figure(height)
        ax = fig.add_subplot()
        xs = _numeric(cells, x)
        lower, upper, exact = (_numeric(cells, c) for c in ("lip_lower", "lip_upper", "lip_exact"))
        in_range = (
            cells["in_range"].fillna(False).astype(bool).to_numpy()
            if "in_range" in cells.columns
            else np.ones(len(cells), dtype=bool)
        )
        hues = cells[hue].astype(str).to_numpy() if hue else np.full(len(cells), "")
        hue_values = sorted(set(hues), key=_natural_key)
        colors = {
            h: _PALETTE[i % len(_PALETTE)] if hue else "#555555" for i, h in enumerate(hue_values)
        }
        shown = np.isfinite(xs) & (xs > 0)
        drawable = shown & (
            _positive_finite(lower) | _positive_finite(upper) | _positive_finite(exact)
        )
        infinite = shown & (np.isposinf(lower) | np.isposinf(exact))
        if not drawable.any():
            note = "no cells to plot"
            if infinite.any():
                note = f"Lip = ∞ in all {int(infinite.sum())} cells\n(discontinuous functions)"
            _empty_note(ax, note)
            return fig
        outside_labelled = False
        for h in hue_values:
            for inside in (True, False):
                sel = shown & (hues == h) & (in_range == inside)
                if not sel.any():
                    continue
                lo = np.where(np.isfinite(lower[sel]) & (lower[sel] > 0), lower[sel], np.nan)
                hi = np.where(np.isfinite(upper[sel]) & (upper[sel] > 0), upper[sel], np.nan)
                lo_plot = np.where(np.isnan(lo), hi, lo)
                hi_plot = np.where(np.isnan(hi), lo, hi)
                label = None
                if inside and hue:
                    # values that already read "name=value" stand as they are
                    label = text_safe(h) if "=" in h else f"{text_safe(hue)}={text_safe(h)}"
                elif inside:
                    label = "lower bound – certified upper"
                elif not outside_labelled:
                    label, outside_labelled = "outside fit range", True
                ax.vlines(
                    xs[sel],
                    lo_plot,
                    hi_plot,
                    color=colors[h] if inside else "#BBBBBB",
                    lw=1.2 if inside else 0.8,
                    alpha=0.8 if inside else 0.6,
                    label=label,
                    zorder=2,
                )
                ex = sel & np.isfinite(exact) & (exact > 0)
                if ex.any():
                    ax.plot(
                        xs[ex],
                        exact[ex],
                        "o",
                        ms=3,
                        mfc=(colors[h] if hue else "black") if inside else "#BBBBBB",
                        mec="black",
                        mew=0.4,
                        ls="none",
                        zorder=3,
                    )
        _draw_floor(ax, xs, _numeric(cells, "lip_floor"), hues, shown, colors if hue else None)
        if infinite.any():
            ax.plot([], [], " ", label=f"Lip = ∞ in {int(infinite.sum())} cells (not drawn)")
        if (np.isfinite(exact) & (exact > 0) & shown).any():
            ax.plot(
                [],
                [],
                "o",
                ms=3,
                mfc="white",
                mec="black",
                mew=0.4,
                ls="none",
                label="exact (proven)",
            )
        for i, (xr, yr, label) in enumerate(references):
            ax.plot(
                np.asarray(xr, dtype=float),
                np.asarray(yr, dtype=float),
                color="#777777",
                ls=_LINESTYLES[(i + 1) % len(_LINESTYLES)],
                lw=0.9,
                label=text_safe(label),
                zorder=1,
            )
        for quantity, fit in fits:
            style = QUANTITY_STYLE.get(quantity, {"color": "#CC79A7"})
            _draw_fit(ax, fit, style["color"], _fit_label(fit, quantity))
        ax.set_xscale("log")
        ax.set_yscale("log")
        _tidy_log_axis(ax.xaxis)
        _tidy_log_axis(ax.yaxis)
        ax.set_xlabel(x_label)
        ax.set_ylabel("Lipschitz constant\n(lower – certified upper)")
        if title:
            ax.set_title(text_safe(title))
        _legend_below(fig, ax)
    return fig


def plot_lipschitz_vs_n_over_k(
    cells: pd.DataFrame,
    *,
    fits: Sequence[tuple[str, PowerLawFit]] = (),
    references: Sequence[Reference] = (),
    hue: str | None = None,
    title: str | None = None,
) -> Figure:
    """Lip vs n/k (two-layer law): certified bars, exact points, sqrt(n/k) and fitted bands.

    ``cells`` needs ``n_over_k`` (see ``smoothest_fits``); see :func:`plot_lipschitz_scaling`.
    """
    return plot_lipschitz_scaling(
        cells,
        x="n_over_k",
        x_label="n/k (samples per neuron)",
        hue=hue,
        fits=fits,
        references=references,
        title=title,
    )


def plot_lipschitz_heatmap(
    grid: pd.DataFrame,
    *,
    label: str = "smallest fitting Lip\n(certified upper bound)",
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Heatmap of the smallest fitting Lipschitz constant over (n, k).

    Parameters
    ----------
    grid : pandas.DataFrame
        Index: n (rows), columns: k; +inf where no member fits (drawn "×"), NaN where the
        configuration was not run (blank). See :func:`robustlaw.analysis.tables.heatmap_table`.
    label : str
        Colour-bar label: say which bound the values are.
    annotate : bool, optional
        Write the values in the cells (default: when the grid is at most 8 columns wide).
    """
    if not isinstance(grid, pd.DataFrame):
        raise TypeError(f"grid must be a pandas DataFrame, got {type(grid).__name__}")
    with _paper_style():
        fig = new_figure(2.6)
        ax = fig.add_subplot()
        values = grid.to_numpy(dtype=float)
        finite = np.isfinite(values) & (values > 0)
        if values.size == 0 or not finite.any():
            _empty_note(ax, "no fitted cells")
            return fig
        ax.set_facecolor("white")
        masked = np.ma.masked_where(~finite, values)
        low, high = values[finite].min(), values[finite].max()
        norm = LogNorm(vmin=low, vmax=max(high, low * 1.0001))
        image = ax.imshow(masked, origin="lower", aspect="auto", cmap="viridis", norm=norm)
        ax.set_xticks(range(grid.shape[1]), [_tick(v) for v in grid.columns], rotation=90)
        ax.set_yticks(range(grid.shape[0]), [_tick(v) for v in grid.index])
        ax.set_xlabel("k (neurons)")
        ax.set_ylabel("n (samples)")
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(label)
        _tidy_log_axis(bar.ax.yaxis)
        if annotate is None:
            annotate = grid.shape[1] <= 8
        for (row, col), value in np.ndenumerate(values):
            if np.isposinf(value):
                ax.text(col, row, "×", ha="center", va="center", color="#666666", fontsize=7)
            elif annotate and finite[row, col]:
                ax.text(
                    col, row, f"{value:.2g}", ha="center", va="center", color="white", fontsize=7
                )
        if title:
            ax.set_title(text_safe(title))
    return fig


def _natural_key(value: str) -> tuple:
    """Sort numbers numerically (and before text), text alphabetically."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _tick(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return text_safe(value)
    return f"{number:g}"


def plot_fit_quality(
    members: pd.DataFrame,
    *,
    noise_level: float | None = None,
    title: str | None = None,
) -> Figure:
    """Training MSE vs width k, one colour per n, with the memorization threshold k = n/d.

    Parameters
    ----------
    members : pandas.DataFrame
        Member records with ``n``, ``d``, ``width``, ``train_mse`` (status "done").
    noise_level : float, optional
        sigma^2, drawn as a horizontal line (fitting below it is the law's premise).
    """
    _require(members, "members", ["n", "d", "width", "train_mse"])
    with _paper_style():
        fig = new_figure(3.0)
        ax = fig.add_subplot()
        mse = _numeric(members, "train_mse")
        width = _numeric(members, "width")
        ok = np.isfinite(mse) & np.isfinite(width) & (width > 0)
        if not ok.any():
            _empty_note(ax, "no training MSE recorded")
            return fig
        positive = mse[ok & (mse > 0)]
        linthresh = float(10 ** np.floor(np.log10(positive.min()))) if positive.size else 1e-8
        n_all = _numeric(members, "n")
        ns = sorted(np.unique(n_all[np.isfinite(n_all)]))
        for i, n in enumerate(ns):
            color = _PALETTE[i % len(_PALETTE)]
            rows = members.loc[ok & (n_all == n)]
            k = _numeric(rows, "width")
            m = _numeric(rows, "train_mse")
            ax.plot(k, m, ".", color=color, alpha=0.35, ms=2.5)
            ks = np.unique(k)
            ax.plot(ks, [np.median(m[k == v]) for v in ks], "-", color=color, label=f"n={n:g}")
            for d in np.unique(_numeric(rows, "d")):
                if np.isfinite(d) and d > 0:
                    ax.axvline(n / d, color=color, ls=":", lw=0.9)
        ax.plot([], [], ":", color="#555555", label="k = n/d (memorization)")
        if noise_level is not None and math.isfinite(noise_level):
            ax.axhline(noise_level, color="#555555", ls="--", lw=0.9, label="noise level σ²")
        ax.set_xscale("log")
        _tidy_log_axis(ax.xaxis)
        ax.set_yscale("symlog", linthresh=linthresh)
        top = max(float(np.nanmax(mse[ok])), noise_level or 0.0, linthresh)
        decades = list(range(int(math.log10(linthresh)), math.ceil(math.log10(top)) + 1))
        step = max(1, math.ceil(len(decades) / 5))
        ax.set_yticks([0.0] + [10.0**e for e in decades[::step]])
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.set_ylim(0.0, 10.0 ** decades[-1] * 1.5)
        ax.set_xlabel("k (neurons)")
        ax.set_ylabel("training MSE\n(line: median; dots: members)")
        if title:
            ax.set_title(text_safe(title))
        _legend_below(fig, ax, ncols=2)
    return fig


def plot_sensitivity(
    summary: pd.DataFrame,
    *,
    references: Sequence[Reference] = (),
    title: str | None = None,
) -> Figure:
    """Sensitivity sqrt(d)·||grad f(z)|| vs p: one colour per activation, one style per family.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``family``, ``activation``, ``p``, ``median``, ``q25``, ``q75`` (see
        ``seed_summary(cells, ["family", "activation", "p"], "sensitivity")``).
    references : sequence of (x, y, label)
        E.g. the universal law's sqrt(n d / p).
    """
    _require(summary, "summary", ["family", "activation", "p", "median", "q25", "q75"])
    with _paper_style():
        fig = new_figure(3.1)
        ax = fig.add_subplot()
        frame = summary.assign(_p=_numeric(summary, "p"), _m=_numeric(summary, "median"))
        frame = frame.loc[np.isfinite(frame["_p"]) & np.isfinite(frame["_m"]) & (frame["_m"] > 0)]
        if frame.empty:
            _empty_note(ax, "no sensitivity recorded")
            return fig
        activations = sorted(frame["activation"].astype(str).unique())
        families = sorted(frame["family"].astype(str).unique())
        for (family, activation), rows in frame.groupby(
            [frame["family"].astype(str), frame["activation"].astype(str)], sort=True
        ):
            rows = rows.sort_values("_p")
            color = _PALETTE[activations.index(activation) % len(_PALETTE)]
            style = _LINESTYLES[families.index(family) % len(_LINESTYLES)]
            marker = _MARKERS[activations.index(activation) % len(_MARKERS)]
            ax.plot(rows["_p"], rows["_m"], style, marker=marker, ms=2.5, color=color)
            ax.fill_between(
                rows["_p"],
                _numeric(rows, "q25"),
                _numeric(rows, "q75"),
                color=color,
                alpha=0.15,
                lw=0,
            )
        for i, activation in enumerate(activations):
            ax.plot(
                [],
                [],
                "-",
                marker=_MARKERS[i % len(_MARKERS)],
                ms=2.5,
                color=_PALETTE[i % len(_PALETTE)],
                label=text_safe(activation),
            )
        for family in families:
            style = _LINESTYLES[families.index(family) % len(_LINESTYLES)]
            ax.plot([], [], style, color="#555555", label=text_safe(family))
        for xr, yr, label in references:
            ax.plot(xr, yr, color="#777777", lw=0.9, ls="-.", label=text_safe(label))
        ax.set_xscale("log")
        ax.set_yscale("log")
        _tidy_log_axis(ax.xaxis)
        _tidy_log_axis(ax.yaxis)
        ax.set_xlabel("p (parameters)")
        ax.set_ylabel("sensitivity √d·‖∇f(z)‖\n(estimate, median over seeds)")
        if title:
            ax.set_title(text_safe(title))
        _legend_below(fig, ax, ncols=2)
    return fig


def plot_constructions(
    cells: pd.DataFrame,
    *,
    x: str = "width",
    x_label: str = "k (neurons)",
    title: str | None = None,
) -> Figure:
    """Lipschitz constants of explicit constructions vs k, one colour per construction.

    ``cells`` as for :func:`plot_lipschitz_scaling`, with a ``family`` column naming the
    construction.
    """
    _require(cells, "cells", [x, "family", "lip_lower", "lip_upper"])
    return plot_lipschitz_scaling(
        cells.assign(in_range=True), x=x, x_label=x_label, hue="family", title=title
    )


def save_figure(
    fig: Figure, path_stem: str | Path, formats: Sequence[str] = FORMATS
) -> dict[str, Path]:
    """Write ``fig`` as PNG (300 dpi), PDF and SVG next to each other.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_stem : str or Path
        Path without suffix; parent directories are created.
    formats : sequence of str
        A subset of ``("png", "pdf", "svg")``; all three by default.

    Returns
    -------
    dict
        Format -> written path, e.g. ``{"png": Path, "pdf": Path, "svg": Path}``.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    stem = Path(path_stem)
    if stem.suffix.lstrip(".") in FORMATS:
        raise ValueError(f"path_stem must not carry a suffix, got {str(path_stem)!r}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    paths = {fmt: stem.with_name(stem.name + f".{fmt}") for fmt in formats}
    metadata = {"png": {"Software": "robustlaw"}, "pdf": {"Creator": "robustlaw"}}
    with _paper_style():
        for fmt, path in paths.items():
            kwargs: dict[str, Any] = {"format": fmt}
            if fmt == "png":
                kwargs["dpi"] = PNG_DPI
            if fmt in metadata:
                kwargs["metadata"] = metadata[fmt]
            fig.savefig(path, **kwargs)
    return paths
