"""Experiment specs: a TOML or YAML file validated by pydantic v2, expanded by :mod:`.plan`.

A spec describes a grid of trials. Every scientific field that takes a scalar may take a
list instead: the list is an **axis** of the grid, and the grid is the cartesian product of
its axes. Axes named together in ``zip`` vary together instead (equal lengths). A list of
``[[cases]]`` tables gives variants of the base spec (each one merged into the base and
expanded on its own; a case's free-form ``options``, ``params`` or ``label_params`` table
replaces the base's whole); the spec's trials are the union. Unknown keys are rejected.

Example (TOML)::

    name = "two-layer-law-small"
    experiment = "two_layer_law"
    seeds = [0, 1, 2]                      # data and initialization seed of a trial
    zip = [["data.n", "model.widths"]]     # each n gets its own list of widths

    [data]
    distribution = "sphere"                # robustlaw.data registry name (or dataset = "digits")
    n = [100, 400]
    d = 10
    labels = "random_sign"

    [model]
    family = "two_layer"
    activation = "relu"
    widths = [[5, 10, 40, 100, 400], [20, 40, 160, 400, 1600]]   # the members of one batch

    [fit]
    target = "interpolate"                 # or "below_noise" with eps
    smoothest = true
    strengths = [0.0, 1e-3, 1e-2]

    [lipschitz]
    domain = "sphere"
    methods = ["lower", "upper"]

The ``[run]`` table (device, batch size) is not part of a trial's scientific identity and
does not enter its hash.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from robustlaw.sweep.registry import (
    CONSTRUCTIONS,
    EXPERIMENTS,
    FAMILIES,
    experiment_labels,
    runner_kinds,
    unknown_name,
)

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

__all__ = [
    "AXIS",
    "EXPERIMENTS",
    "FAMILIES",
    "DataSection",
    "FitSection",
    "GridSpec",
    "LipschitzSection",
    "ModelSection",
    "RunSection",
    "Spec",
    "SpecError",
    "axes_of",
    "load_spec",
    "parse_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class SpecError(ValueError):
    """An invalid spec: every problem with its key path, e.g. ``model.widths[2]``.

    Attributes
    ----------
    problems : list of (str, str)
        (key path, reason) pairs.
    source : str or None
        The file the spec came from.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"invalid spec {source}" if source else "invalid spec"
        text = "; ".join(f"{path}: {reason}" if path else reason for path, reason in problems)
        super().__init__(f"{where}: {text}")


# --------------------------------------------------------------------------- coercion


def _fail(reason: str, sub: str = "") -> PydanticCustomError:
    return PydanticCustomError("spec", "{reason}", {"reason": reason, "sub": sub})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(value: Any) -> int:
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise ValueError(f"must be an integer, got {value!r}")


def _positive_int(value: Any) -> int:
    out = _int(value)
    if out <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return out


def _nonnegative_int(value: Any) -> int:
    out = _int(value)
    if out < 0:
        raise ValueError(f"must be non-negative, got {value!r}")
    return out


def _float(value: Any) -> float:
    if _is_number(value) and math.isfinite(value):
        return float(value)
    raise ValueError(f"must be a finite number, got {value!r}")


def _positive_float(value: Any) -> float:
    out = _float(value)
    if out <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return out


def _nonnegative_float(value: Any) -> float:
    out = _float(value)
    if out < 0:
        raise ValueError(f"must be non-negative, got {value!r}")
    return out


def _unit_open(value: Any) -> float:
    out = _float(value)
    if not 0 < out < 1:
        raise ValueError(f"must lie in (0, 1), got {value!r}")
    return out


def _name(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError(f"must be a non-empty string, got {value!r}")


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(f"must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def _known(names: Callable[[], Sequence[str]], what: str = "") -> Callable[[Any], str]:
    """A check that a name is in a registry (``names()`` lists it, read when checking)."""

    def check(value: Any) -> str:
        known = names()
        if isinstance(value, str) and value in known:
            return value
        raise ValueError(unknown_name(value, known, what))

    return check


def _distributions() -> list[str]:
    from robustlaw.data import DISTRIBUTIONS

    return list(DISTRIBUTIONS)


def _label_models() -> list[str]:
    from robustlaw.data import LABEL_MODELS

    return [*LABEL_MODELS, "dataset"]


def _scalar(value: Any) -> Any:
    """A JSON scalar for a pass-through parameter (str, bool, finite number or None)."""
    if value is None or isinstance(value, str | bool):
        return value
    return _float(value) if isinstance(value, float) else _int(value)


def _axis(check: Callable[[Any], Any], nullable: bool) -> Callable[[Any], tuple[Any, ...] | None]:
    """A before-validator: a scalar or a list of scalars, each checked; returns a tuple."""

    def validate(value: Any) -> tuple[Any, ...] | None:
        if value is None:
            if nullable:
                return None
            raise _fail("must be given (null is not allowed here)")
        if isinstance(value, list | tuple):
            if not value:
                raise _fail("an axis needs at least one value, got an empty list")
            out = []
            for i, item in enumerate(value):
                try:
                    out.append(check(item))
                except ValueError as exc:
                    raise _fail(str(exc), f"[{i}]") from None
            return tuple(out)
        try:
            return (check(value),)
        except ValueError as exc:
            raise _fail(str(exc)) from None

    return validate


def _widths(value: Any) -> tuple[tuple[int, ...], ...] | None:
    """``[16, 64]`` (one list of members) or ``[[16, 64], [32, 128]]`` (an axis of lists)."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value:
        raise _fail(f"must be a non-empty list of widths, got {value!r}")
    nested = isinstance(value[0], list | tuple)
    lists = value if nested else [value]
    out = []
    for i, widths in enumerate(lists):
        prefix = f"[{i}]" if nested else ""
        if not isinstance(widths, list | tuple) or not widths:
            raise _fail(f"must be a non-empty list of widths, got {widths!r}", prefix)
        seen: set[int] = set()
        checked = []
        for j, width in enumerate(widths):
            try:
                k = _positive_int(width)
            except ValueError as exc:
                raise _fail(str(exc), f"{prefix}[{j}]") from None
            if k in seen:
                raise _fail(f"duplicate width {k}", f"{prefix}[{j}]")
            seen.add(k)
            checked.append(k)
        out.append(tuple(checked))
    return tuple(out)


def _params(value: Any) -> dict[str, Any]:
    """Parameters passed to a sampler or label model: scalars, or lists of scalars (axes)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"must be a table of parameters, got {value!r}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _fail(f"parameter names must be non-empty strings, got {key!r}")
        if isinstance(item, list | tuple):
            if not item:
                raise _fail("an axis needs at least one value, got an empty list", f".{key}")
            values = []
            for i, element in enumerate(item):
                try:
                    values.append(_scalar(element))
                except ValueError as exc:
                    raise _fail(str(exc), f".{key}[{i}]") from None
            out[key] = tuple(values)
        else:
            try:
                out[key] = (_scalar(item),)
            except ValueError as exc:
                raise _fail(str(exc), f".{key}") from None
    return out


def _options(value: Any) -> dict[str, Any]:
    """Keyword options passed through to a library call: any JSON-like values (no axes)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"must be a table of options, got {value!r}")

    def check(item: Any, sub: str) -> Any:
        if isinstance(item, Mapping):
            return {str(k): check(v, f"{sub}.{k}") for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [check(v, f"{sub}[{i}]") for i, v in enumerate(item)]
        try:
            return _scalar(item)
        except ValueError as exc:
            raise _fail(str(exc), sub) from None

    return {str(k): check(v, f".{k}") for k, v in value.items()}


class _Axis:
    """Marks a section field whose tuple value is an axis of the grid."""


AXIS = _Axis()


def Axis(check: Callable[[Any], Any], nullable: bool = False) -> Any:
    """The type of an axis field whose values pass ``check`` (None allowed if nullable)."""
    if nullable:
        return Annotated[tuple[Any, ...] | None, BeforeValidator(_axis(check, True)), AXIS]
    return Annotated[tuple[Any, ...], BeforeValidator(_axis(check, False)), AXIS]


Widths = Annotated[tuple[tuple[int, ...], ...] | None, BeforeValidator(_widths), AXIS]
Params = Annotated[dict[str, tuple[Any, ...]], BeforeValidator(_params), AXIS]
Options = Annotated[dict[str, Any], BeforeValidator(_options)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sections


class DataSection(_Section):
    """Where the data comes from.

    Exactly one of ``distribution`` (a :mod:`robustlaw.data` sampler: n and d required)
    and ``dataset`` ("digits", "mnist1d" or a file; d is the data's, n optional: the
    number of training points, the rest is held out).
    """

    distribution: Axis(_known(_distributions), nullable=True) = None
    dataset: str | None = None
    n: Axis(_positive_int, nullable=True) = None
    d: Axis(_positive_int, nullable=True) = None
    labels: Axis(_known(_label_models), nullable=True) = None
    label_params: Params = {}
    params: Params = {}
    noise_level: Axis(_nonnegative_float, nullable=True) = None
    options: Options = {}

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset(cls, value: Any) -> Any:
        return None if value is None else _check(_name, value)


class ModelSection(_Section):
    """The family of networks: members of one batch are its widths.

    ``widths`` is required for trained and feature families; a construction takes its
    width from the data unless given one (its number of units, where it accepts one).
    """

    family: Axis(_known(lambda: list(FAMILIES))) = ("two_layer",)
    activation: Axis(_name) = ("relu",)
    widths: Widths = None
    hidden_layers: Axis(_positive_int) = (1,)
    init: Axis(_name) = ("standard",)
    hidden_bias: bool = True
    output_bias: bool = False
    skip: bool = False
    construction: Axis(_known(lambda: list(CONSTRUCTIONS), "construction"), nullable=True) = None
    dtype: Literal["float32", "float64"] = "float64"
    options: Options = {}


class FitSection(_Section):
    """The fit target and the optimizer.

    ``smoothest = true`` runs :func:`robustlaw.fitting.smoothest_fit` over the penalty
    ``strengths`` (extra members of the same batch) with ``penalty`` (one name; unset:
    the fitting package's default penalties); ``steps`` and ``lr`` are its smoothing
    budget and learning rate, ``options`` its other arguments (``fit_steps``, ...).
    ``ridge`` is the ridge of the closed-form fit of feature families.
    """

    target: Axis(_choice("interpolate", "below_noise")) = ("interpolate",)
    eps: Axis(_unit_open) = (0.1,)
    tol: Axis(_positive_float) = (1e-6,)
    optimizer: Axis(_name) = ("adam",)
    lr: Axis(_positive_float, nullable=True) = None
    steps: Axis(_positive_int, nullable=True) = None
    smoothest: bool = False
    penalty: Axis(_name, nullable=True) = None
    strengths: tuple[float, ...] = ()
    ridge: Axis(_nonnegative_float) = (0.0,)
    options: Options = {}

    @field_validator("strengths", mode="before")
    @classmethod
    def _strengths(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _fail(f"must be a list of penalty strengths, got {value!r}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_positive_float(item))
            except ValueError as exc:
                raise _fail(str(exc), f"[{i}]") from None
        return tuple(out)


class LipschitzSection(_Section):
    """Which Lipschitz methods measure each member, on which domain, with which budget;
    test points for sensitivity and accuracy; the PGD radius for robust accuracy.

    ``budget_seconds`` is per network and bounds its whole estimate, all methods together
    (``budget_nodes``: the exact solver's node budget per network)."""

    domain: str = "rd"
    methods: tuple[str, ...] = ("lower", "upper")
    budget_seconds: float | None = None
    budget_nodes: int | None = None
    test_points: int = 1000
    pgd_radius: Axis(_positive_float, nullable=True) = None
    pgd_steps: int = 20
    options: Options = {}

    @field_validator("domain", mode="before")
    @classmethod
    def _domain(cls, value: Any) -> Any:
        from robustlaw.lipschitz import DOMAINS, normalize_domain

        try:
            return normalize_domain(value)
        except ValueError:
            raise _fail(unknown_name(value, [domain_label(d) for d in DOMAINS])) from None

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _fail(f"must be a list of method names, got {value!r}")
        check = _known(_lipschitz_methods, "method")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(check(_name(item)))
            except ValueError as exc:
                raise _fail(str(exc), f"[{i}]") from None
        return tuple(out)

    @field_validator("budget_seconds", mode="before")
    @classmethod
    def _budget_seconds(cls, value: Any) -> Any:
        return None if value is None else _check(_positive_float, value)

    @field_validator("budget_nodes", "test_points", "pgd_steps", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return None if value is None else _check(_positive_int, value)


def domain_label(domain: str) -> str:
    """A canonical domain name as users write it: ``R^d``, ``ball``, ``sphere``."""
    return "R^d" if domain == "rd" else domain


def _lipschitz_methods() -> list[str]:
    """Method groups, then the registered Lipschitz methods."""
    from robustlaw.lipschitz import GROUPS, METHODS

    return [*GROUPS, *sorted(METHODS)]


def _check(fn: Callable[[Any], Any], value: Any) -> Any:
    try:
        return fn(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


class RunSection(_Section):
    """How to run (not part of a trial's identity): device, batches, worker processes.

    ``device`` is a torch device string, or ``"auto"``: CUDA when available, else the CPU.
    ``max_members`` splits a group into batches of at most that many consecutive widths;
    ``split`` runs each group as that many batches of about equal estimated cost (widths
    dealt by :func:`robustlaw.sweep.sizing.split_group`), so that the cores stay busy to
    the end. ``workers``: local worker processes, a positive integer or ``"auto"`` (one
    per available core); where a batch runs never changes its numbers.
    """

    device: str = "auto"
    max_members: int | None = None
    split: int = 1
    workers: int | Literal["auto"] = "auto"

    @field_validator("max_members", mode="before")
    @classmethod
    def _max_members(cls, value: Any) -> Any:
        return None if value is None else _check(_positive_int, value)

    @field_validator("split", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _check(_positive_int, value)

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, str):
            raise _fail(f"must be a positive integer or 'auto', got {value!r}")
        return _check(_positive_int, value)


class GridSpec(_Section):
    """One grid of trials (a spec without cases, or one case merged into its spec)."""

    name: str
    experiment: str
    description: str = ""
    kind: str | None = None
    seeds: Axis(_nonnegative_int) = (0,)
    zip: tuple[tuple[str, ...], ...] = ()
    data: DataSection
    model: ModelSection = ModelSection()
    fit: FitSection = FitSection()
    lipschitz: LipschitzSection = LipschitzSection()
    run: RunSection = RunSection()

    @field_validator("name", mode="before")
    @classmethod
    def _spec_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _NAME.match(value):
            raise _fail(f"must be letters, digits, '_', '.', '-' (no spaces), got {value!r}")
        return value

    @field_validator("experiment", mode="before")
    @classmethod
    def _experiment(cls, value: Any) -> Any:
        return _check(_known(experiment_labels), value)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        return None if value is None else _check(_known(runner_kinds, "runner"), value)

    @field_validator("zip", mode="before")
    @classmethod
    def _zip(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _fail(f"must be a list of lists of axis names, got {value!r}")
        out = []
        for i, group in enumerate(value):
            if not isinstance(group, list | tuple) or len(group) < 2:
                raise _fail(f"must list at least two axis names, got {group!r}", f"[{i}]")
            for j, item in enumerate(group):
                if not isinstance(item, str):
                    raise _fail(
                        f"must be an axis name such as 'data.n', got {item!r}", f"[{i}][{j}]"
                    )
            out.append(tuple(group))
        return tuple(out)


# --------------------------------------------------------------------------- axes

_SECTIONS = ("data", "model", "fit", "lipschitz")


def _axis_fields(grid: GridSpec) -> list[tuple[str, tuple[Any, ...]]]:
    """Every axis of a grid as (name, values), in declaration order; seeds last."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    for section_name in _SECTIONS:
        section = getattr(grid, section_name)
        for name, info in type(section).model_fields.items():
            if AXIS not in info.metadata:
                continue
            value = getattr(section, name)
            if value is None:
                continue
            if isinstance(value, dict):
                for key, values in value.items():
                    out.append((f"{section_name}.{name}.{key}", values))
            else:
                out.append((f"{section_name}.{name}", value))
    out.append(("seeds", grid.seeds))
    return out


def axes_of(grid: GridSpec) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """The grid's independent axes: (names, list of value tuples), zipped axes merged.

    Raises
    ------
    ValueError
        When a zipped name is not an axis, appears twice, or zipped lengths differ.
    """
    fields = _axis_fields(grid)
    lookup = dict(fields)
    zipped: dict[str, int] = {}
    for g, names in enumerate(grid.zip):
        for name in names:
            if name not in lookup:
                raise ValueError(
                    f"zip[{g}]: {name!r} is not an axis (axes: {', '.join(n for n, _ in fields)})"
                )
            if name in zipped:
                raise ValueError(f"zip[{g}]: {name!r} is already zipped in zip[{zipped[name]}]")
            zipped[name] = g
        lengths = {name: len(lookup[name]) for name in names}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{name} has {size}" for name, size in lengths.items())
            raise ValueError(f"zip[{g}]: zipped axes need equal lengths ({detail})")
    axes: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    placed: set[int] = set()
    for name, values in fields:
        if name not in zipped:
            axes.append(((name,), [(v,) for v in values]))
            continue
        g = zipped[name]
        if g in placed:
            continue
        placed.add(g)
        names = grid.zip[g]
        axes.append((tuple(names), list(zip(*(lookup[n] for n in names), strict=True))))
    return axes


# --------------------------------------------------------------------------- cross-field checks


def _section_checks(grid: GridSpec) -> list[tuple[str, str]]:
    """Checks that involve several fields or a registry; (path, reason) pairs."""
    problems: list[tuple[str, str]] = []
    data, model, fit = grid.data, grid.model, grid.fit
    if (data.distribution is None) == (data.dataset is None):
        problems.append(("data", "give exactly one of 'distribution' and 'dataset'"))
    if data.distribution is not None:
        if data.n is None:
            problems.append(("data.n", "required with a distribution"))
        if data.d is None:
            problems.append(("data.d", "required with a distribution"))
    if data.dataset is not None and data.d is not None:
        problems.append(("data.d", "the dataset sets the dimension; remove 'd'"))
    families = set(model.family)
    if families == {"two_layer"} and model.hidden_layers != (1,):
        problems.append(
            (
                "model.hidden_layers",
                f"a two-layer network has 1 hidden layer, got {list(model.hidden_layers)}",
            )
        )
    if "construction" in families and model.construction is None:
        problems.append(("model.construction", "required with family 'construction'"))
    if families - {"construction"} and model.widths is None:
        problems.append(("model.widths", "required for trained and feature families"))
    if data.dataset is None and data.labels is not None and "dataset" in data.labels:
        problems.append(("data.labels", "'dataset' labels need a dataset"))
    dataset_labels = data.labels is None or "dataset" in data.labels
    if data.dataset and dataset_labels and "below_noise" in fit.target and not data.noise_level:
        problems.append(
            (
                "fit.target",
                "'below_noise' needs the noise level of the data set's labels: "
                "give data.noise_level",
            )
        )
    if "below_noise" not in fit.target and "eps" in fit.model_fields_set:
        problems.append(("fit.eps", "only used with target 'below_noise'"))
    if fit.smoothest and not fit.strengths:
        problems.append(("fit.strengths", "the smoothest-fit search needs at least one strength"))
    if not fit.smoothest and fit.strengths:
        problems.append(("fit.strengths", "only used with smoothest = true"))
    if fit.smoothest and fit.optimizer != ("adam",):
        problems.append(("fit.optimizer", "the smoothest-fit search trains with 'adam'"))
    if fit.smoothest and families - {"two_layer"}:
        problems.append(("fit.smoothest", "the smoothest-fit search takes two_layer families"))
    if fit.smoothest and fit.options:
        from robustlaw.fitting.settings import check_search_options

        problems.extend((f"fit.options.{k}", why) for k, why in check_search_options(fit.options))
    if grid.kind is None:
        kinds = {FAMILIES[f] for f in model.family}
        if len(kinds) > 1:
            problems.append(
                ("model.family", f"families run by different runners ({sorted(kinds)}); split them")
            )
    problems.extend(_registry_checks(grid))
    return problems


def _registry_checks(grid: GridSpec) -> list[tuple[str, str]]:
    """Names whose registry depends on other fields: activations, initializations and
    optimizers of trained families; for the built-in runners, distribution parameters
    and data set options."""
    from robustlaw import fitting, models
    from robustlaw.models.activations import ACTIVATIONS, get_activation

    problems: list[tuple[str, str]] = []
    model, fit = grid.model, grid.fit
    kinds = {grid.kind} if grid.kind is not None else {FAMILIES[f] for f in model.family}
    if kinds & {"train", "features"}:
        for path, name in _values("model.activation", model.activation):
            try:
                get_activation(name)
            except ValueError:
                known = [*sorted(ACTIVATIONS), "poly<q>", "hermite<q>"]
                problems.append((path, unknown_name(name, known, "activation")))
    if "train" in kinds:
        for path, name in _values("model.init", model.init):
            if name not in models.INITS:
                problems.append((path, unknown_name(name, models.INITS, "initialization")))
        for path, name in _values("fit.optimizer", fit.optimizer):
            if name not in fitting.DEFAULTS:
                problems.append((path, unknown_name(name, fitting.DEFAULTS, "optimizer")))
    if kinds <= set(FAMILIES.values()):  # the built-in runners sample and load as checked
        problems.extend(_data_checks(grid.data))
    return problems


def _values(path: str, values: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """(key path, value) of an axis' values: ``path`` alone for one value, else indexed."""
    if len(values) == 1:
        return [(path, values[0])]
    return [(f"{path}[{i}]", value) for i, value in enumerate(values)]


#: How a spec spells the arguments of :func:`robustlaw.data.load_dataset` in messages.
_DATASET_WORDS = {
    "classes": "data.options.classes",
    "classes_hint": "data.options.classes = a (one vs rest) or [a, b]",
    "rescale": "data.options.rescale = true",
    "labels": "data.labels = 'random_sign' (labels drawn by a label model)",
    "flip_prob": "data.options.flip_prob",
    "split": "data.options.split",
    "label_column": "data.options.label_column",
    "labels_key": "data.options.labels_key",
}


def _data_checks(data: DataSection) -> list[tuple[str, str]]:
    """Distribution parameters against each sampler's keywords; a data set's options
    against :func:`robustlaw.data.load_dataset`; a file read as the runner reads it."""
    import inspect

    from robustlaw._names import ArgumentError
    from robustlaw.data import BUILTIN_DATASETS, get_distribution, load_dataset

    problems: list[tuple[str, str]] = []
    for name in data.distribution or ():
        try:
            get_distribution(name).check_params(dict.fromkeys(data.params))
        except ValueError as exc:
            problems.append(("data.params", str(exc)))
    if data.dataset is None:
        return problems
    passed = {"source", "seed", "dtype", "device", "labels"}  # set by the runner
    accepted = [p for p in inspect.signature(load_dataset).parameters if p not in passed]
    unknown = [key for key in data.options if key not in accepted]
    for key in unknown:
        problems.append((f"data.options.{key}", unknown_name(key, accepted, "option")))
    if unknown or data.dataset in BUILTIN_DATASETS:
        return problems
    try:
        load_dataset(data.dataset, labels=True, **data.options)
    except ArgumentError as exc:
        problems.append(("data.dataset", exc.worded(_DATASET_WORDS)))
    except (ValueError, TypeError, FileNotFoundError) as exc:
        problems.append(("data.dataset", str(exc)))
    return problems


# --------------------------------------------------------------------------- error formatting


def _format_loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: Sequence[Any]) -> list[str]:
    model: Any = GridSpec
    for part in loc[:-1]:
        field_info = getattr(model, "model_fields", {}).get(part)
        if field_info is None:
            return []
        model = field_info.annotation
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


def _problems(error: ValidationError, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for item in error.errors():
        loc = list(item["loc"])
        ctx = item.get("ctx") or {}
        path = _format_loc(loc) + str(ctx.get("sub", ""))
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc)
            reason = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
        elif kind == "missing":
            reason = "required key is missing"
        elif kind == "spec":
            reason = ctx["reason"]
        else:
            reason = item["msg"].removeprefix("Value error, ")
            value = item.get("input")
            if not isinstance(value, Mapping | list) and "got" not in reason:
                reason += f", got {value!r}"
        out.append((path, reason))
    return out


# --------------------------------------------------------------------------- the spec


#: Free-form tables a case replaces whole (its keys are a function's arguments, so mixing the
#: base's and the case's would pass arguments the case did not ask for).
_REPLACED_TABLES = frozenset({"options", "params", "label_params"})


def _deep_merge(base: Mapping[str, Any], case: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in case.items():
        if (
            isinstance(value, Mapping)
            and isinstance(out.get(key), Mapping)
            and key not in _REPLACED_TABLES
        ):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate_grid(raw: Mapping[str, Any]) -> tuple[GridSpec | None, list[tuple[str, str]]]:
    try:
        grid = GridSpec.model_validate(raw)
    except ValidationError as exc:
        return None, _problems(exc, raw)
    problems = _section_checks(grid)
    try:
        axes_of(grid)
    except ValueError as exc:
        path, _, reason = str(exc).partition(": ")
        problems.append((path, reason))
    return (grid if not problems else None), problems


@dataclass(frozen=True)
class Spec:
    """A validated spec: its name, experiment label, and one or more grids.

    Attributes
    ----------
    name : str
        The spec's name (its ``name`` key, else the file's stem).
    experiment : str
        Experiment label, e.g. "two_layer_law" (see :data:`EXPERIMENTS`).
    grids : tuple of GridSpec
        The base grid, or one grid per case.
    source : dict
        The spec as written (after TOML/YAML parsing), stored with the results.
    path : str or None
        The file it was read from.
    """

    name: str
    experiment: str
    grids: tuple[GridSpec, ...]
    source: dict[str, Any] = field(repr=False)
    path: str | None = None

    @property
    def run(self) -> RunSection:
        """Run options of the first grid (device, batch size)."""
        return self.grids[0].run


def parse_spec(
    raw: Mapping[str, Any], *, name: str | None = None, source: str | None = None
) -> Spec:
    """Validate a spec given as a mapping (parsed TOML/YAML).

    Parameters
    ----------
    raw : mapping
        The spec's content.
    name : str, optional
        Used when ``raw`` has no ``name`` key (e.g. the file's stem).
    source : str, optional
        Where the spec came from, for error messages.

    Raises
    ------
    SpecError
        With every problem's key path and reason; nothing is run or written.
    """
    if not isinstance(raw, Mapping):
        raise SpecError([("", f"a spec must be a table of keys, got {type(raw).__name__}")], source)
    base = {str(k): v for k, v in raw.items()}
    if name is not None and "name" not in base:
        base["name"] = name
    cases = base.pop("cases", None)
    problems: list[tuple[str, str]] = []
    grids: list[GridSpec] = []
    if cases is None:
        grid, problems = _validate_grid(base)
        if grid is not None:
            grids.append(grid)
    elif not isinstance(cases, list) or not cases:
        problems.append(("cases", f"must be a non-empty list of tables, got {cases!r}"))
    else:
        for i, case in enumerate(cases):
            if not isinstance(case, Mapping):
                problems.append((f"cases[{i}]", f"must be a table, got {case!r}"))
                continue
            for key in ("name", "experiment", "cases"):
                if key in case:
                    problems.append((f"cases[{i}].{key}", "cannot be set per case"))
            grid, found = _validate_grid(_deep_merge(base, case))
            for path, reason in found:
                in_case = _has_path(case, path)
                problems.append((f"cases[{i}].{path}" if in_case else path, reason))
            if grid is not None:
                grids.append(grid)
    if problems:
        raise SpecError(_unique(problems), source)
    return Spec(
        name=grids[0].name,
        experiment=grids[0].experiment,
        grids=tuple(grids),
        source=dict(raw),
        path=source,
    )


def _unique(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(problems))


def _has_path(mapping: Mapping[str, Any], path: str) -> bool:
    head = re.split(r"[.\[]", path, maxsplit=2)
    node: Any = mapping
    for part in head[:2]:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file (``.toml``, ``.yaml`` or ``.yml``).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    SpecError
        When the file does not parse or the spec is invalid (a ValueError).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spec file not found: {path}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            [("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")], str(path)
        ) from None
    try:
        if suffix == ".toml":
            raw = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise SpecError(
                [("", f"unknown spec format {suffix!r} (use .toml or .yaml)")], str(path)
            )
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([("", f"not valid TOML: {exc}")], str(path)) from None
    except Exception as exc:  # yaml.YAMLError and friends
        if isinstance(exc, SpecError):
            raise
        raise SpecError([("", f"not valid YAML: {exc}")], str(path)) from None
    return parse_spec(raw if raw is not None else {}, name=path.stem, source=str(path))
