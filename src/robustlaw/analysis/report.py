"""One self-contained HTML report of a sweep: figures, fits, verdicts, specs, versions, timings.

The page opens offline: figures are embedded as base64 PNG, the style sheet is inline, and a
Content-Security-Policy forbids loading anything that is not part of the page. Every text
that comes from records, specs or meta is escaped (:func:`html.escape`). The figures are also
written next to the page as PNG and PDF (``figures/``) for papers.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from robustlaw.analysis import plots
from robustlaw.analysis.regimes import DEFAULT_RULES, RegimeRules
from robustlaw.analysis.summary import ratio_text, slope_text, summarize
from robustlaw.analysis.tables import (
    QUANTITY_LABELS,
    heatmap_table,
    numeric_column,
    seed_summary,
    smoothest_fits,
    validate_records,
)
from robustlaw.analysis.verdicts import (
    RANGE_RULES,
    RELATIONS,
    Relation,
    Verdict,
    assess,
    in_fit_range,
    law_values,
)

__all__ = ["REPORT_NAME", "SpecText", "build_report", "spec_text"]

#: File name of the report inside ``out_dir``.
REPORT_NAME = "report.html"

#: Experiments in the order the report shows them (others follow, sorted).
EXPERIMENT_ORDER = ("two_layer_law", "universal_law", "rf_ntk", "real_data", "constructions")

#: Figures are drawn for a relation only when it was tested on at most this many groups.
MAX_GROUPS_PER_FIGURE = 6

_X_LABELS = {
    "n_over_k": "n/k (samples per neuron)",
    "width": "k (neurons)",
    "n": "n (samples)",
    "p": "p (parameters)",
    "d_eff": "d (intrinsic dimension when recorded)",
}

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.consistent { background: #e3f4e3; } .inconsistent { background: #fbe1e1; }
.insufficient { background: #f4f1de; }
td.regime { white-space: nowrap; }
p.summary { background: #f5f8fc; border-left: 3px solid #0072B2; padding: .5em .8em; }
ol.note { margin-top: 0; }
figure { display: inline-block; margin: .5em 1em 1em 0; vertical-align: top; max-width: 34em; }
figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #444; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
.note { color: #555; font-size: .9em; }
details { margin: .5em 0 1em; }
"""


def _e(value: Any) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "—"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    return f"{number:.{digits}g}"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-").lower()
    return slug[:60] or "x"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int] = frozenset()):
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if isinstance(value, _Raw):
                cells.append(value.html)
            else:
                css = ' class="num"' if i in numeric else ""
                cells.append(f"<td{css}>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """A table cell whose HTML was built (and escaped) by the caller."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


# --------------------------------------------------------------------------- figures


class _Figures:
    """Saves (PNG and PDF) and embeds the figures of the report."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stems: set[str] = set()

    def add(self, fig, name: str, caption: str) -> str:
        stem, i = _slug(name), 1
        while stem in self.stems:  # distinct names may share a slug
            i += 1
            stem = f"{_slug(name)}-{i}"
        self.stems.add(stem)
        paths = plots.save_figure(fig, self.directory / stem, formats=("png", "pdf"))
        data = base64.b64encode(paths["png"].read_bytes()).decode("ascii")
        files = ", ".join(p.name for p in paths.values())
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)} <span class='note'>(files: {_e(files)})</span>"
            "</figcaption></figure>"
        )


def _reference(cells: pd.DataFrame, x: str, law: str, label: str) -> plots.Reference | None:
    inside = cells.loc[cells["in_range"]] if "in_range" in cells.columns else cells
    if inside.empty:
        return None
    values = law_values(inside, law)["heuristic"].to_numpy(dtype=float)
    xs = numeric_column(inside, x).to_numpy()
    ok = np.isfinite(xs) & np.isfinite(values)
    if ok.sum() < 2:
        return None
    order = np.argsort(xs[ok])
    return xs[ok][order], values[ok][order], label


def _varying_columns(groups: Sequence[Verdict]) -> list[str]:
    if not groups:
        return []
    names = [name for name, _ in groups[0].group]
    varying = []
    for i, name in enumerate(names):
        if len({str(v.group[i][1]) for v in groups}) > 1:
            varying.append(name)
    return varying


def _relation_figure(
    figures: _Figures, experiment: str, relation: Relation, cells: pd.DataFrame, verdicts
) -> str:
    tested = [v for v in verdicts if v.relation == relation.name]
    if not tested or relation.quantities == ("sensitivity",):
        return ""  # sensitivities have their own figure
    groups: dict[tuple, list[Verdict]] = {}
    for verdict in tested:
        groups.setdefault(verdict.group, []).append(verdict)
    if len(groups) > MAX_GROUPS_PER_FIGURE:
        return (
            f"<p class='note'>{_e(relation.name)}: {len(groups)} groups tested; "
            "see the table (no figure for more than "
            f"{MAX_GROUPS_PER_FIGURE} groups).</p>"
        )
    firsts = [members[0] for members in groups.values()]
    varying = _varying_columns(firsts)
    mask = pd.Series(False, index=cells.index)
    references = []
    for group in groups:
        sel = pd.Series(True, index=cells.index)
        for name, value in group:
            column = cells[name]
            sel &= column.isna() if pd.isna(value) else column.eq(value)
        mask |= sel
        if len(groups) <= 3:
            ref = _reference(cells.loc[sel], relation.x, relation.law, "")
            if ref is not None:
                formula = tested[0].law_formula
                suffix = ", ".join(f"{n}={_fmt(v)}" for n, v in group if n in varying)
                label = f"{formula} ({tested[0].law})" + (f", {suffix}" if suffix else "")
                references.append((ref[0], ref[1], label))
    subset = cells.loc[mask].copy()
    hue = None
    if varying:
        subset["group"] = [
            ", ".join(f"{name}={_fmt(row[name])}" for name in varying)
            for _, row in subset[varying].iterrows()
        ]
        hue = "group"
    fits = []
    if len(groups) == 1:
        fits = [(v.quantity, v.fit) for v in tested if v.fit is not None and v.fit.has_interval]
    fig = plots.plot_lipschitz_scaling(
        subset,
        x=relation.x,
        x_label=_X_LABELS.get(relation.x, relation.x_label),
        hue=hue,
        fits=fits,
        references=references,
    )
    caption = (
        f"{relation.name}: bars from the lower bound (value at a witness) to the certified "
        f"upper bound of the smoothest fitted member per configuration and seed; dots: exact "
        f"values; faded: outside the fit range; grey lines: the law's scaling"
        + ("; coloured lines and bands: fits with their pointwise confidence bands" if fits else "")
        + "."
    )
    return figures.add(fig, f"{experiment}-{relation.name}", caption)


def _experiment_figures(
    figures: _Figures,
    experiment: str,
    cells: pd.DataFrame,
    members: pd.DataFrame,
    verdicts: Sequence[Verdict],
) -> list[str]:
    out = []
    for relation in RELATIONS:
        if relation.experiment == experiment:
            block = _relation_figure(figures, experiment, relation, cells, verdicts)
            if block:
                out.append(block)
    if experiment == "two_layer_law":
        if {"n", "width"} <= set(cells.columns) and min(cells[["n", "width"]].nunique()) >= 2:
            grid = heatmap_table(cells, "lip_upper")
            fig = plots.plot_lipschitz_heatmap(grid)
            out.append(
                figures.add(
                    fig,
                    f"{experiment}-heatmap",
                    "Smallest fitting Lipschitz constant over (n, k): certified upper bound of "
                    "the smoothest fitted member, median over seeds; ×: +∞ (no member fits); "
                    "blank: not run.",
                )
            )
        if {"n", "d", "width"} <= set(cells.columns):
            out.append(_smoothest_by_width(cells))
        if {"n", "d", "width", "train_mse"} <= set(members.columns):
            noise = numeric_column(members, "noise_level").dropna().unique()
            fig = plots.plot_fit_quality(
                members, noise_level=float(noise[0]) if len(noise) == 1 else None
            )
            out.append(
                figures.add(
                    fig,
                    f"{experiment}-fit-quality",
                    "Training MSE vs width k per n; dotted: the memorization threshold k = n/d.",
                )
            )
    if experiment == "rf_ntk" and {"family", "activation", "p"} <= set(cells.columns):
        summary = seed_summary(cells, ["family", "activation", "p"], "sensitivity")
        references = []
        if {"n", "p"} <= set(cells.columns) and max(cells[["n", "d_eff"]].nunique()) == 1:
            ref = _reference(cells, "p", "universal", "√(n·d/p) (universal law [BS])")
            if ref is not None:
                references.append(ref)
        fig = plots.plot_sensitivity(summary, references=references)
        out.append(
            figures.add(
                fig,
                f"{experiment}-sensitivity",
                "Sensitivity √d·‖∇f(z)‖ at test points (an estimate, not a certified bound) vs "
                "p: median over seeds with the interquartile band; colour: activation; line "
                "style: family.",
            )
        )
    if experiment == "constructions" and {"family", "width"} <= set(cells.columns):
        fig = plots.plot_constructions(cells)
        out.append(
            figures.add(
                fig,
                f"{experiment}-lipschitz",
                "Explicit constructions: Lipschitz bounds (bars: lower bound to certified upper "
                "bound; dots: exact) vs number of neurons k.",
            )
        )
    return out


# --------------------------------------------------------------------------- tables


def _smoothest_by_width(cells: pd.DataFrame) -> str:
    """Median over seeds, per (n, d, k), of the smoothest fit's bounds beside the data floor."""
    rows = []
    for (n, d, width), group in cells.groupby(["n", "d", "width"], sort=True):
        fitted = group[group["fit_reached"].astype(bool)]
        lower = numeric_column(fitted, "lip_lower").median()
        upper = numeric_column(fitted, "lip_upper").median()
        exact = numeric_column(fitted, "lip_exact")
        floor = numeric_column(group, "lip_floor").median()
        rows.append(
            [
                _fmt(n),
                _fmt(d),
                _fmt(width),
                _fmt(n / width),
                f"{len(fitted)}/{len(group)}",
                _fmt(lower),
                _fmt(upper),
                f"{int(exact.notna().sum())}/{len(fitted)}",
                _fmt(floor),
                _fmt(upper / floor if floor > 0 else math.nan),
            ]
        )
    headers = [
        "n",
        "d",
        "k",
        "n/k",
        "seeds fitted",
        "lower (median)",
        "certified upper (median)",
        "exact proven",
        "data floor (median)",
        "upper / floor",
    ]
    return (
        "<h3>Smoothest fit per width</h3>"
        + _table(headers, rows, numeric={0, 1, 2, 3, 5, 6, 8, 9})
        + "<p class='note'>Medians over the seeds where some member fits. The data floor is "
        "the least Lipschitz constant of any function that interpolates the labels exactly "
        "(max |y_i − y_j| / dist(x_i, x_j), geodesic on the sphere): no fitting network can "
        "go below it, whatever its width.</p>"
    )


_VERDICT_CSS = {"consistent": "consistent", "inconsistent": "inconsistent"}


def _slope_cell(verdict: Verdict) -> str:
    fit = verdict.fit
    return "—" if fit is None else slope_text(fit.slope, *fit.slope_ci)


def _integral(value: Any) -> Any:
    """Whole floats as ints (n=1408, not 1.41e+03)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shared_group(verdicts: Sequence[Verdict]) -> list[tuple[str, Any]]:
    """The fixed (column, value) pairs every verdict shares (stated once above the table)."""
    if not verdicts:
        return []
    first = [(k, v) for k, v in verdicts[0].group if not pd.isna(v)]
    return [(k, v) for k, v in first if all((k, v) in tuple(w.group) for w in verdicts[1:])]


def _verdict_rows(verdicts: Sequence[Verdict]) -> str:
    """The compact table: one row per fitted slope, with the floor and the regime."""
    shared = _shared_group(verdicts)
    rows = []
    for v in verdicts:
        css = _VERDICT_CSS.get(v.verdict, "insufficient")
        floor = v.floor
        floor_slope = floor.slope if floor is not None else math.nan
        fixed = ", ".join(
            f"{k}={_fmt(value)}"
            for k, value in v.group
            if (k, value) not in shared and not pd.isna(value)
        )
        rows.append(
            [
                v.relation,
                fixed or "—",
                v.quantity_label,
                _slope_cell(v),
                slope_text(v.predicted_slope),
                slope_text(floor_slope) if math.isfinite(floor_slope) else "—",
                ratio_text(floor.upper_ratio) if floor is not None else "—",
                ratio_text(v.gap_median),
                _Raw(f'<td class="{css}">{_e(v.verdict)}</td>'),
                _Raw(
                    f'<td class="regime" title="{_e(v.regime.rule if v.regime else "")}">'
                    f"{_e(v.regime_label)}</td>"
                ),
            ]
        )
    headers = [
        "relation",
        "fixed (besides the line above)",
        "quantity",
        "slope [95% CI]",
        "law",
        "floor slope",
        "upper/floor",
        "upper/lower",
        "verdict",
        "regime",
    ]
    common = ", ".join(f"{k}={_fmt(_integral(value))}" for k, value in shared)
    lead = f"<p class='note'>Every row: {_e(common)}.</p>" if common else ""
    return lead + _table(headers, rows, numeric={3, 4, 5, 6, 7})


def _verdict_details(verdicts: Sequence[Verdict]) -> str:
    """Everything behind each verdict: statement, regime checks, Theorem 3, rule, counts."""
    rows = []
    for v in verdicts:
        fit = v.fit
        regime = v.regime
        checks = (
            "; ".join(
                f"{c.label}: {'yes' if c.fired else 'no' if c.fired is False else 'n/a'} "
                f"({c.detail})"
                for c in regime.checks
            )
            if regime is not None and regime.checks
            else (regime.rule if regime is not None else "—")
        )
        theorem3 = (
            regime.theorem3.text
            if regime is not None and regime.theorem3 is not None
            else f"{_fmt(v.rigorous_slope)} "
            f"({'applies' if v.rigorous_applies else 'hypothesis fails'})"
        )
        rows.append(
            [
                v.relation,
                v.group_text,
                v.quantity_label,
                v.statement,
                checks,
                theorem3,
                f"[{_fmt(v.x_range[0], 6)}, {_fmt(v.x_range[1], 6)}]",
                _fmt(fit.n_seeds if fit else None),
                _fmt(fit.expected_coverage if fit else None, 2),
                f"{v.n_used} / {v.n_in_range} / {v.n_cells}",
                "; ".join([*([v.reason] if v.reason else []), *v.notes]) or "—",
            ]
        )
    headers = [
        "relation",
        "fixed",
        "quantity",
        "statement",
        "regime checks (in order)",
        "Theorem 3",
        "x range",
        "seeds",
        "≈ true coverage",
        "points used / in range / cells",
        "reasons and notes",
    ]
    return _table(headers, rows, numeric={7, 8})


def _exp(value: float) -> float:
    return math.exp(value) if math.isfinite(value) else math.nan


def _fit_rows(verdicts: Sequence[Verdict]) -> str:
    rows = []
    for v in verdicts:
        fit = v.fit
        if fit is None:
            continue
        rows.append(
            [
                v.relation,
                v.group_text,
                v.quantity_label,
                _fmt(fit.slope, 4),
                f"[{_fmt(fit.slope_ci[0], 4)}, {_fmt(fit.slope_ci[1], 4)}]",
                _fmt(fit.prefactor, 4),
                "[{}, {}]".format(*(_fmt(_exp(b), 4) for b in fit.intercept_ci)),
                _fmt(fit.r_squared, 3),
                fit.n_seeds,
                fit.n_points,
                f"[{_fmt(fit.x_min, 6)}, {_fmt(fit.x_max, 6)}]",
                f"{fit.method} ({100 * fit.confidence_level:g}%, {fit.n_resamples} resamples)",
                _fmt(fit.expected_coverage, 2),
                fit.method_reason or "—",
            ]
        )
    if not rows:
        return "<p class='note'>No fits.</p>"
    headers = [
        "relation",
        "fixed",
        "quantity",
        "slope",
        "slope CI",
        "prefactor C",
        "prefactor CI",
        "R² (log-log, points)",
        "seeds",
        "points",
        "x range",
        "interval",
        "≈ true coverage with these seeds",
        "why not BCa",
    ]
    return _table(headers, rows, numeric={3, 5, 7, 8, 9, 12})


def _status_table(records: pd.DataFrame) -> str:
    counts = records.groupby([records["experiment"].astype(str), records["status"].astype(str)])
    frame = counts.size().unstack(fill_value=0)
    headers = ["experiment", *frame.columns, "total"]
    rows = [[name, *row.tolist(), int(row.sum())] for name, row in frame.iterrows()]
    return _table(headers, rows, numeric=set(range(1, len(headers))))


def _certification_table(records: pd.DataFrame) -> str:
    rows = []
    done = records.loc[records["status"].astype(str).eq("done")]
    for column, (label, kind) in QUANTITY_LABELS.items():
        if column not in done.columns:
            rows.append([label, kind, 0, "not recorded"])
            continue
        measured = int(numeric_column(done, column).notna().sum())
        detail = "—"
        if column == "lip_upper" and "lip_upper_method" in done.columns:
            methods = done.loc[numeric_column(done, column).notna()]
            counts = methods["lip_upper_method"].astype(str).value_counts()
            detail = ", ".join(f"{name}: {count}" for name, count in counts.items()) or "—"
        rows.append([label, kind, measured, detail])
    return _table(["quantity", "what it is", "members measured", "upper-bound methods"], rows, {2})


def _timings_table(records: pd.DataFrame) -> str:
    rows = []
    for experiment, group in records.groupby(records["experiment"].astype(str), sort=True):
        row = [experiment, len(group)]
        for column in ("fit_seconds", "lip_seconds"):
            values = numeric_column(group, column).dropna()
            if values.empty:
                row += ["—", "—", "—"]
            else:
                row += [_fmt(values.sum()), _fmt(values.median()), _fmt(values.max())]
        rows.append(row)
    headers = [
        "experiment",
        "members",
        "fit s (total)",
        "fit s (median)",
        "fit s (max)",
        "Lipschitz s (total)",
        "Lipschitz s (median)",
        "Lipschitz s (max)",
    ]
    return _table(headers, rows, numeric=set(range(1, 8)))


def _plain(value: Any) -> Any:
    """Spec values as YAML-safe plain data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@dataclass(frozen=True)
class SpecText:
    """A spec as its author wrote it, for the report.

    Attributes
    ----------
    name : str
    format : str
        ``"toml"``, ``"yaml"`` or ``"json"``: the language of ``text``.
    text : str
        The spec's text (the file itself where it could be read, else the parsed content
        written back in the file's language).
    """

    name: str
    format: str
    text: str


_FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def _format_of(path: str | None) -> str | None:
    if not path:
        return None
    return _FORMATS.get(Path(str(path).rsplit(":", 1)[-1]).suffix.lower())


def _parse(text: str, fmt: str) -> Any:
    if fmt == "toml":
        return tomllib.loads(text)
    if fmt == "yaml":
        return yaml.safe_load(text)
    return json.loads(text)


def _dump(content: Mapping[str, Any], fmt: str) -> str:
    plain = _plain(content)
    if fmt == "toml":
        try:
            return tomli_w.dumps(plain)
        except TypeError:  # a value TOML cannot hold (e.g. None): fall back to YAML
            pass
    if fmt == "json":
        return json.dumps(plain, indent=2) + "\n"
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def spec_text(spec: Any, path: str | None = None) -> SpecText:
    """A spec in the language its author wrote it in.

    Parameters
    ----------
    spec : SpecText, sweep Spec, or mapping
        A :class:`SpecText` is returned as is; a :class:`robustlaw.sweep.Spec` brings its
        own source and path; a mapping is the parsed content (as the store keeps it).
    path : str, optional
        Where the spec was read from (the store records it). When that file still holds
        the same content, its text is shown verbatim, comments included; otherwise the
        content is written in the file's language (TOML for ``.toml``, YAML for
        ``.yaml``/``.yml``, JSON for ``.json``; YAML when the language is not known).
    """
    if isinstance(spec, SpecText):
        return spec
    if hasattr(spec, "source") and hasattr(spec, "name"):
        name, path, content = str(spec.name), path or spec.path, dict(spec.source)
    elif isinstance(spec, Mapping):
        content = dict(spec)
        name = str(content.get("name", "spec"))
    else:
        raise TypeError(f"a spec must be a SpecText, Spec or mapping, got {type(spec).__name__}")
    fmt = _format_of(path) or "yaml"
    file = Path(str(path)) if path else None
    if file is not None and file.is_file():
        try:
            text = file.read_text(encoding="utf-8")
            parsed = _parse(text, fmt)
        except (OSError, ValueError, yaml.YAMLError):
            parsed = None
        if isinstance(parsed, Mapping) and {**parsed, "name": name} == {**content, "name": name}:
            return SpecText(name, fmt, text)
    return SpecText(name, fmt, _dump(content, fmt))


def _specs_section(specs: Sequence[Any], paths: Mapping[str, str]) -> str:
    if not specs:
        return "<p class='note'>No spec given.</p>"
    blocks = []
    for spec in specs:
        name = spec.get("name") if isinstance(spec, Mapping) else getattr(spec, "name", None)
        shown = spec_text(spec, paths.get(str(name)) if name is not None else None)
        blocks.append(
            f"<h3>{_e(shown.name)} <span class='note'>({_e(shown.format.upper())})</span></h3>"
            f"<pre class='spec {_e(shown.format)}'>{_e(shown.text)}</pre>"
        )
    return "".join(blocks)


def _versions() -> list[tuple[str, str]]:
    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    for package in ("robustlaw", "torch", "numpy", "scipy", "pandas", "matplotlib", "pyyaml"):
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return rows


# --------------------------------------------------------------------------- the report


def build_report(
    records: pd.DataFrame,
    out_dir: str | Path,
    *,
    specs: Sequence[Any] = (),
    meta: Mapping[str, Any] | None = None,
    confidence_level: float = 0.95,
    n_resamples: int = 9999,
    rng: int = 0,
    progress: Callable[[str], None] | None = None,
    verdicts: Sequence[Verdict] | None = None,
    rules: RegimeRules = DEFAULT_RULES,
    reference: pd.DataFrame | None = None,
) -> Path:
    """Write ``out_dir/report.html`` (self-contained) and ``out_dir/figures/*.{png,pdf}``.

    Parameters
    ----------
    records : pandas.DataFrame
        Member records (one row per network; see ``robustlaw.analysis``).
    out_dir : str or Path
        Directory to write into (created when missing).
    specs : sequence of SpecText, Spec or dict
        The sweep spec(s), shown in the language they were written in (see
        :func:`spec_text`; ``records.attrs["spec_paths"]``, as the store's ``load`` sets it,
        says where each named spec was read from).
    meta : dict, optional
        Free-form facts shown at the top (``title`` becomes the page title).
    confidence_level, n_resamples, rng
        Passed to :func:`robustlaw.analysis.verdicts.assess`.
    progress : callable, optional
        Called with a short message at each step.
    verdicts : sequence of Verdict, optional
        The result of :func:`robustlaw.analysis.verdicts.assess` on the same records, when
        already computed (the bootstrap is not run twice).
    rules : RegimeRules
        The regime rules (stated on the page); passed to ``assess``.
    reference : pandas.DataFrame, optional
        Records searched for constructions and other search modes; passed to ``assess``.

    Returns
    -------
    Path
        The HTML file.
    """
    records = validate_records(records)
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping or None, got {type(meta).__name__}")
    if isinstance(specs, Mapping | str) or not isinstance(specs, Sequence):
        raise TypeError(f"specs must be a sequence of specs, got {type(specs).__name__}")
    meta = dict(meta or {})
    say = progress or (lambda message: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = _Figures(out / "figures")

    say("reducing members to the smoothest fit per configuration and seed")
    cells = smoothest_fits(records)
    cells["in_range"] = in_fit_range(cells) if not cells.empty else pd.Series(dtype=bool)
    if verdicts is None:
        say("fitting power laws and bootstrapping over seeds")
        verdicts = assess(
            records,
            confidence_level=confidence_level,
            n_resamples=n_resamples,
            rng=rng,
            rules=rules,
            reference=reference,
        )
    verdicts = list(verdicts)

    present = [str(e) for e in records["experiment"].dropna().unique()]
    order = [e for e in EXPERIMENT_ORDER if e in present] + sorted(
        e for e in present if e not in EXPERIMENT_ORDER
    )
    sections = []
    done = records.loc[records["status"].astype(str).eq("done")]
    for experiment in order:
        say(f"drawing {experiment}")
        exp_cells = (
            cells.loc[cells["experiment"].astype(str).eq(experiment)] if len(cells) else cells
        )
        exp_members = done.loc[done["experiment"].astype(str).eq(experiment)]
        exp_verdicts = [v for v in verdicts if v.experiment == experiment]
        parts = [f"<h2 id='{_e(_slug(experiment))}'>{_e(experiment)}</h2>"]
        parts.append(f"<p class='summary'>{_e(summarize(exp_verdicts))}</p>")
        parts.append(
            f"<p class='note'>{len(exp_members)} finished members in {len(exp_cells)} "
            "configurations × seeds.</p>"
        )
        rule = exp_verdicts[0].rule if exp_verdicts else None
        if rule is None and experiment in RANGE_RULES:
            rule = RANGE_RULES[experiment].text
        if rule is not None:
            parts.append(f"<p class='note'>Fit-range rule: {_e(rule)}.</p>")
        for relation in RELATIONS:
            if relation.experiment == experiment and relation.note:
                parts.append(f"<p class='note'>{_e(relation.name)}: {_e(relation.note)}.</p>")
        if not exp_cells.empty:
            parts.extend(
                _experiment_figures(figures, experiment, exp_cells, exp_members, exp_verdicts)
            )
        if exp_verdicts:
            parts.append("<h3>Verdicts</h3>" + _verdict_rows(exp_verdicts))
            parts.append(
                "<details><summary>Behind each verdict: statement, regime checks, "
                "Theorem 3, fit range, seeds</summary>"
                + _verdict_details(exp_verdicts)
                + "</details>"
            )
            parts.append(
                "<details><summary>Power-law fits (log y = log C + slope · log x)</summary>"
                + _fit_rows(exp_verdicts)
                + "</details>"
            )
        else:
            parts.append("<p class='note'>No slope is tested for this experiment.</p>")
        sections.append("".join(parts))

    title = str(meta.get("title", "robustlaw report"))
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta_rows = [[k, _plain(v)] for k, v in meta.items() if k != "title"]
    say("writing the page")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p class="note">Generated {_e(generated)} from {len(records)} member records.
Lower bounds are values at witnesses; upper bounds are certified (method named); exact values
are proven; sensitivities are estimates. Slopes are log-log least-squares fits with
{_e(f"{100 * confidence_level:g}")}% bootstrap intervals over seeds (whole curves resampled).
A verdict is “consistent” when the law's predicted slope lies in the interval. With few
seeds these intervals are too narrow: the “≈ true coverage” column gives their approximate
actual coverage, P(|t<sub>m−1</sub>| ≤ z·√((m−1)/m)) for m seeds. Numbers are rounded
to what their interval supports.</p>
<p class="note">Each verdict carries a <b>regime</b>, what its slope measures, by fixed rules
checked in this order (the first that fires names it):</p>
<ol class="note">{"".join(f"<li>{_e(rule)}</li>" for rule in rules.describe())}</ol>
<p class="note">Beside each slope: the data floor's own slope over the same cells (the floor
is the least Lipschitz constant of any exact interpolant; none for fits below the noise
level or for estimates) and the median certified upper bound / floor.</p>
{_table(["key", "value"], meta_rows) if meta_rows else ""}
<h2>Records</h2>
{_status_table(records)}
<p class="note">Only members with status “done” enter the analysis.</p>
{_certification_table(records)}
{"".join(sections)}
<h2>Timings</h2>
{_timings_table(records)}
<h2>Specs</h2>
{_specs_section(list(specs), dict(records.attrs.get("spec_paths") or {}))}
<h2>Environment</h2>
{_table(["package", "version"], _versions())}
</body>
</html>
"""
    path = out / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    say(f"report written to {path}")
    return path
