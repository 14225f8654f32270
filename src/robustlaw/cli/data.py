"""``robustlaw data info``: what the law of robustness sees in a data set."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from robustlaw._names import unknown_name
from robustlaw.cli._common import (
    FILE_WORDS,
    bad_input_exits,
    console,
    fail,
    label_option,
    print_json,
)

data_app = typer.Typer(
    name="data",
    help="Data: isoperimetric samplers, real data sets, intrinsic dimension, isoperimetry.",
    no_args_is_help=True,
    add_completion=False,
)


def _parse_pairs(items: list[str] | None, option: str) -> dict[str, Any]:
    """KEY=VALUE strings to a dict; values are JSON when they parse (numbers, lists, true)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{option} takes KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _parse_classes(text: str | None) -> Any:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        fail(f"--classes takes one class or two comma-separated classes, got {text!r}")
    values = [int(v) if v.is_integer() else v for v in values]
    return values[0] if len(values) == 1 else tuple(values)


def _load(
    source: str,
    n: int | None,
    d: int | None,
    seed: int,
    labels: str,
    params: dict[str, Any],
    label_params: dict[str, Any],
    classes: Any,
    split: str | None,
    flip_prob: float,
    rescale: bool,
    no_labels: bool,
    raw: bool,
    label_column: str | None,
) -> tuple[Any, list[str]]:
    import robustlaw.data as rd
    from robustlaw.data.real import FILE_SUFFIXES, LABEL_NAMES

    notes: list[str] = []
    if source in rd.DISTRIBUTIONS:
        if label_column is not None:
            fail("--label-column applies to files, not to distributions")
        if labels != "none" and labels not in rd.LABEL_MODELS:
            fail(f"--labels: {unknown_name(labels, [*rd.LABEL_MODELS, 'none'], 'label model')}")
        label_model = None if (labels == "none" or no_labels) else labels
        if label_params and label_model is None:
            fail("--label-param applies to a label model (not with --labels none, --no-labels)")
        try:
            rd.labels.resolve_label_model(label_model, label_params or None)
        except ValueError as exc:
            fail(f"--label-param: {exc}")
        return (
            rd.sample(
                source,
                n=1000 if n is None else n,
                d=20 if d is None else d,
                seed=seed,
                labels=label_model,
                label_params=label_params or None,
                dtype="float64",
                **params,
            ),
            notes,
        )
    path = Path(source)
    if source not in rd.BUILTIN_DATASETS and not path.exists() and not path.suffix:
        known = [*rd.DISTRIBUTIONS, *rd.BUILTIN_DATASETS]
        fail(
            f"{unknown_name(source, known, 'distribution or file type')}; "
            f"or a file: {', '.join(FILE_SUFFIXES)}"
        )
    if n is not None or d is not None or params or label_params:
        fail("--n, --d, --param and --label-param apply to distributions, not to data sets")
    want_labels = not no_labels
    if source in rd.BUILTIN_DATASETS and classes is None and not rescale:
        want_labels = False
        if not no_labels:
            notes.append(f"labels of {source} are classes 0-9: pass --classes a or a,b to use them")
    sample = rd.load_dataset(
        source,
        split=split,
        classes=classes,
        rescale=rescale,
        labels=want_labels,
        normalize=not raw,
        flip_prob=flip_prob,
        seed=seed,
        dtype="float64",
        **label_option(source, label_column),
    )
    read = sample.meta.params
    if read.get("header") is False:
        notes.append(
            "the CSV has no header row (its first line is numbers): columns are numbered "
            "from 0; give --label-column N for labels"
        )
    if want_labels and sample.y is None and source not in rd.BUILTIN_DATASETS:
        notes.append(
            f"no labels: no column or array named {', '.join(LABEL_NAMES)}; "
            "give --label-column NAME"
        )
    return sample, notes


def _intrinsic(X: Any, method: str, n: int) -> dict[str, Any]:
    import robustlaw.data as rd

    try:
        if method == "mle":
            result = rd.intrinsic_dimension(X, method="mle", k=min(20, n - 1))
        else:
            result = rd.intrinsic_dimension(X, method="twonn")
    except ValueError as exc:
        return {"method": method, "estimate": None, "error": str(exc)}
    return result.to_dict()


def _theory(n: int, d: int, dims: dict[str, float | None]) -> list[dict[str, Any]]:
    """Parameters for an O(1)-Lipschitz fit, p = n d_used (informal law at L = 1), and the
    two-layer width k with k (d + 2) >= p on the ambient inputs."""
    from robustlaw import theory

    rows = []
    for label, used in dims.items():
        if used is None:
            continue
        d_used = max(1, round(used))
        p = theory.min_params_heuristic(1.0, n, d_used)
        k = max(1, math.ceil(p / (d + 2)))
        rows.append(
            {
                "dimension": label,
                "d_used": d_used,
                "params_heuristic": p,
                "two_layer_width": k,
                "two_layer_params": theory.two_layer_param_count(d, k),
                "kind": "heuristic (informal law p ≈ n·d/L² at L = 1, constants dropped)",
            }
        )
    return rows


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "∞" if math.isinf(value) else f"{value:.{digits}g}"
    return str(value)


def _print(report: dict[str, Any]) -> None:
    meta = report["meta"]
    table = Table(title=f"{report['source']}: n = {meta['n']}, ambient d = {meta['d']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("kind", overflow="fold")
    ident = report["intrinsic_dimension"]
    table.add_row("intrinsic dimension (nominal)", _fmt(ident["nominal"]), "from the sampler")
    twonn = ident["twonn"]
    if twonn.get("estimate") is None:
        table.add_row("intrinsic dimension, TwoNN", "—", twonn.get("error", ""))
    else:
        table.add_row(
            "intrinsic dimension, TwoNN",
            f"{twonn['estimate']:.3g} [{twonn['ci_low']:.3g}, {twonn['ci_high']:.3g}]",
            f"estimate, {twonn['confidence']:.0%} CI under the TwoNN model",
        )
    mle = ident["mle"]
    table.add_row(
        "intrinsic dimension, MLE (Levina–Bickel)",
        _fmt(mle.get("estimate"), 3),
        mle.get("error", f"estimate, k = {mle.get('params', {}).get('k')}"),
    )
    sep = report["separation"]
    quant = sep["nn_quantiles"]
    table.add_row("min pairwise distance", _fmt(sep["min_distance"]), "exact")
    table.add_row(
        "nearest-neighbour distance (5%, 50%, 95%)",
        " / ".join(_fmt(quant.get(q), 3) for q in ("0.05", "0.5", "0.95")),
        "exact quantiles",
    )
    if sep["interpolation_lipschitz"] is not None:
        table.add_row(
            "smallest Lipschitz constant of any interpolant",
            _fmt(sep["interpolation_lipschitz"]),
            "exact: max |yᵢ−yⱼ|/‖xᵢ−xⱼ‖ (McShane–Whitney)",
        )
    iso = report["isoperimetry"]
    table.add_row(
        "isoperimetry c (nominal)",
        _fmt(iso["nominal_c"]),
        (
            f"proven constant w.r.t. dimension {_fmt(iso['nominal_dim'])}"
            + (f", per component ({meta['components']})" if meta["components"] > 1 else "")
        )
        if iso["nominal_c"] is not None
        else "unknown",
    )
    probe = iso["probe"]
    table.add_row(
        f"isoperimetry c, probed lower bound (dim {probe['dim']})",
        f"≥ {probe['c_lower']:.3g}",
        f"lower bound with probability ≥ {probe['confidence']:g}; plug-in {probe['c_plugin']:.3g}"
        " (not a bound)",
    )
    if iso.get("c_lower_intrinsic") is not None:
        table.add_row(
            f"isoperimetry c, probed lower bound (dim {iso['intrinsic_dim_used']})",
            f"≥ {iso['c_lower_intrinsic']:.3g}",
            "the same bound restated for the intrinsic dimension",
        )
    noise = report["noise"]
    table.add_row(
        "noise level σ² = E[Var(y|x)]",
        _fmt(noise["noise_level"]),
        noise["noise_level_kind"] or "unknown",
    )
    for row in report["theory"]:
        table.add_row(
            f"params for Lip O(1), d = {row['d_used']} ({row['dimension']})",
            f"{row['params_heuristic']:.3g}",
            "heuristic n·d (constants dropped)",
        )
        table.add_row(
            f"two-layer width for it ({row['dimension']})",
            f"k = {row['two_layer_width']} ({row['two_layer_params']:.3g} params)",
            "heuristic",
        )
    console.print(table)
    for note in report["notes"]:
        console.print(f"note: {note}", highlight=False)


#: The flags of the library's arguments, for its messages.
_WORDS = {
    **FILE_WORDS,
    "n": "--n",
    "d": "--d",
    "seed": "--seed",
    "confidence": "--confidence",
    "label_params": "--label-param",
}


def _check_size(n: int, d: int) -> None:
    """Refuse --n × --d points that would not fit in this machine's memory (float64)."""
    needed = 8 * n * d
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if needed > memory:
        fail(
            f"--n {n} × --d {d} points take {needed / 2**30:.3g} GiB as float64; "
            f"this machine has {memory / 2**30:.3g} GiB"
        )


@data_app.command("info")
def info(
    source: str = typer.Argument(
        ..., help="A distribution name, 'digits', 'mnist1d' or a .npy/.npz/.csv/.parquet file."
    ),
    n: int | None = typer.Option(None, "--n", help="Points to sample (distributions; 1000)."),
    d: int | None = typer.Option(None, "--d", help="Ambient dimension (distributions; 20)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the local generators."),
    labels: str = typer.Option("random_sign", "--labels", help="Label model, or 'none'."),
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Distribution parameter KEY=VALUE, e.g. m=5 (repeatable)."),
    ] = None,
    label_param: Annotated[
        list[str] | None,
        typer.Option("--label-param", help="Label-model parameter KEY=VALUE (repeatable)."),
    ] = None,
    classes: str | None = typer.Option(
        None, "--classes", help="Data sets: one class 'a' (vs rest) or two 'a,b'."
    ),
    split: str | None = typer.Option(None, "--split", help="mnist1d: train, test or all."),
    flip_prob: float = typer.Option(0.0, "--flip-prob", help="Flip +-1 labels with prob q."),
    rescale: bool = typer.Option(False, "--rescale", help="Map labels onto [-1, 1]."),
    no_labels: bool = typer.Option(False, "--no-labels", help="Ignore labels."),
    raw: bool = typer.Option(False, "--raw", help="Data sets: skip centering and scaling."),
    label_column: str | None = typer.Option(
        None,
        "--label-column",
        help="Files: the label column (or .npz array); default: the one named y, label, "
        "labels, target or class.",
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Level of the probe."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """n, dimensions, separation, isoperimetry and the parameter counts the law asks for."""
    import robustlaw.data as rd

    for flag, value, low, high in (
        ("--flip-prob", flip_prob, 0.0, 0.5),
        ("--confidence", confidence, 0.0, 1.0),
    ):
        if not low <= value <= high or (flag == "--confidence" and value in (low, high)):
            fail(f"{flag} must lie in [{low:g}, {high:g}], got {value!r}")
    for flag, count in (("--n", n), ("--d", d)):
        if count is not None and count < 1:
            fail(f"{flag} must be a positive integer, got {count}")
    _check_size(1000 if n is None else n, 20 if d is None else d)
    with bad_input_exits(_WORDS):
        params = _parse_pairs(param, "--param")
        label_params = _parse_pairs(label_param, "--label-param")
        sample, notes = _load(
            source,
            n,
            d,
            seed,
            labels,
            params,
            label_params,
            _parse_classes(classes),
            split,
            flip_prob,
            rescale,
            no_labels,
            raw,
            label_column,
        )
        X, y, meta = sample
        n_points = meta.n
        if n_points < 20:
            fail(f"data info needs at least 20 points, got {n_points}")
        twonn = _intrinsic(X, "twonn", n_points)
        mle = _intrinsic(X, "mle", n_points)
        sep = rd.separation(X, y)
        probe = rd.probe_isoperimetry(X, confidence=confidence, seed=seed)
        intrinsic_used = meta.intrinsic_dim
        if intrinsic_used is None and twonn.get("estimate") is not None:
            intrinsic_used = max(1, round(twonn["estimate"]))
            notes.append(f"intrinsic dimension {intrinsic_used} is the rounded TwoNN estimate")
        report = {
            "source": source,
            "meta": meta.to_dict(),
            "intrinsic_dimension": {"nominal": meta.intrinsic_dim, "twonn": twonn, "mle": mle},
            "separation": sep.to_dict(),
            "isoperimetry": {
                "nominal_c": meta.isoperimetry_c,
                "nominal_dim": meta.intrinsic_dim,
                "nominal_c_ambient": meta.isoperimetry_c_ambient,
                "probe": probe.to_dict(),
                "intrinsic_dim_used": intrinsic_used,
                "c_lower_intrinsic": None
                if intrinsic_used is None
                else probe.rescaled(intrinsic_used),
            },
            "noise": {
                "noise_level": meta.noise_level,
                "noise_level_kind": meta.noise_level_kind,
                "noise_level_stderr": meta.noise_level_stderr,
            },
            "theory": _theory(
                n_points, meta.d, {"ambient": float(meta.d), "intrinsic": intrinsic_used}
            ),
            "notes": notes,
        }
    if as_json:
        print_json(report)
    else:
        _print(report)
