"""Expansion of a spec into frozen trial configs, their content hashes, and batches.

Pure functions: nothing here runs a trial, touches a device or writes a file.

- :func:`expand` turns a :class:`~robustlaw.sweep.spec.Spec` into :class:`Trial` objects,
  one per network (one width of one grid point), each with a :class:`TrialConfig` holding
  its scientific identity only and the sha256 of that identity's canonical JSON.
- :func:`group` gathers trials into :class:`Batch` objects that share data and tensor
  shapes: same data (distribution, n, d, labels, seed), same family, activation, fit and
  measurement; a batch's members are its widths (the smoothest-fit search adds penalty
  strengths as further members inside the runner).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from robustlaw.sweep.registry import FAMILIES
from robustlaw.sweep.spec import GridSpec, Spec, axes_of

__all__ = [
    "HASH_SCHEMA",
    "Batch",
    "Plan",
    "Trial",
    "TrialConfig",
    "TrialData",
    "TrialFit",
    "TrialLipschitz",
    "TrialModel",
    "axes_of",
    "batch_key",
    "canonical_json",
    "expand",
    "group",
    "make_plan",
    "trial_hash",
]

#: Version of the hashed layout; bump it when the meaning of a field changes.
HASH_SCHEMA = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrialData(_Frozen):
    """The data of one trial (all sampled with the trial's seed)."""

    distribution: str | None
    dataset: str | None
    n: int | None
    d: int | None
    labels: str
    label_params: dict[str, Any]
    params: dict[str, Any]
    noise_level: float | None
    options: dict[str, Any]


class TrialModel(_Frozen):
    """One network: family, activation, width (of every hidden layer for MLPs) and the number
    of hidden layers (1 for two-layer networks; the network has ``hidden_layers + 1`` linear
    layers, the D of [BS, Section 3])."""

    family: str
    activation: str | None
    width: int | None
    hidden_layers: int
    init: str | None
    hidden_bias: bool
    output_bias: bool
    skip: bool
    construction: str | None
    dtype: Literal["float32", "float64"]
    options: dict[str, Any]


class TrialFit(_Frozen):
    """The fit target and how it is reached (fields that do not apply are None)."""

    target: str
    eps: float | None
    tol: float | None
    optimizer: str | None
    lr: float | None
    steps: int | None
    smoothest: bool
    penalty: str | None
    strengths: tuple[float, ...]
    ridge: float | None
    options: dict[str, Any]


class TrialLipschitz(_Frozen):
    """What is measured on the fitted network."""

    domain: str
    methods: tuple[str, ...]
    budget_seconds: float | None
    budget_nodes: int | None
    test_points: int
    pgd_radius: float | None
    pgd_steps: int | None
    options: dict[str, Any]


class TrialConfig(_Frozen):
    """The scientific identity of one trial: everything that determines its numbers,
    nothing about where or how it runs (device, batch size and executor are absent)."""

    experiment: str
    kind: str
    seed: int
    data: TrialData
    model: TrialModel
    fit: TrialFit
    lipschitz: TrialLipschitz

    def identity(self) -> dict[str, Any]:
        """The hashed content: this config as plain JSON data plus the hash schema."""
        return {"schema": HASH_SCHEMA, **self.model_dump(mode="json")}


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, and NaN/inf rejected (so equal content gives
    equal text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def trial_hash(config: TrialConfig) -> str:
    """sha256 (hex) of the canonical JSON of the trial's scientific identity."""
    return hashlib.sha256(canonical_json(config.identity()).encode("utf-8")).hexdigest()


def batch_key(config: TrialConfig) -> str:
    """Hash of everything a batch's members share: the trial's identity without the width."""
    shared = config.identity()
    shared["model"] = {k: v for k, v in shared["model"].items() if k != "width"}
    return hashlib.sha256(canonical_json(shared).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Trial:
    """A frozen trial config, its content hash and the key of the batch it belongs to."""

    config: TrialConfig
    hash: str
    batch_key: str

    @classmethod
    def of(cls, config: TrialConfig) -> Trial:
        return cls(config=config, hash=trial_hash(config), batch_key=batch_key(config))


@dataclass(frozen=True)
class Batch:
    """Trials that share data and tensor shapes, run together as one family.

    Attributes
    ----------
    key : str
        The shared batch key (with a ``#i`` suffix when a large group was split).
    kind : str
        The runner kind (a key of :data:`robustlaw.sweep.run.RUNNERS`).
    trials : tuple of Trial
        Members, ordered by width.
    """

    key: str
    kind: str
    trials: tuple[Trial, ...]

    @property
    def config(self) -> TrialConfig:
        """The first member's config: every field but the width is shared."""
        return self.trials[0].config

    @property
    def widths(self) -> list[int]:
        return [t.config.model.width for t in self.trials]

    @property
    def hashes(self) -> list[str]:
        return [t.hash for t in self.trials]

    def __len__(self) -> int:
        return len(self.trials)


# --------------------------------------------------------------------------- expansion


def _point_config(
    grid: GridSpec, point: dict[str, Any]
) -> tuple[TrialConfig, tuple[int | None, ...]]:
    """The config shared by one grid point's trials (width None) and the point's widths."""

    def get(name: str) -> Any:
        return point.get(name)

    def params(section: str, name: str) -> dict[str, Any]:
        prefix = f"{section}.{name}."
        return {k[len(prefix) :]: v for k, v in point.items() if k.startswith(prefix)}

    data, model, fit, lip = grid.data, grid.model, grid.fit, grid.lipschitz
    family = get("model.family")
    kind = grid.kind or FAMILIES[family]
    target = get("fit.target")
    trains = kind not in ("features", "construction")
    trial_data = TrialData(
        distribution=get("data.distribution"),
        dataset=data.dataset,
        n=get("data.n"),
        d=get("data.d"),
        labels=get("data.labels") or ("dataset" if data.dataset else "random_sign"),
        label_params=params("data", "label_params"),
        params=params("data", "params"),
        noise_level=get("data.noise_level"),
        options=data.options,
    )
    trial_fit = TrialFit(
        target=target,
        eps=get("fit.eps") if target == "below_noise" else None,
        tol=get("fit.tol") if target == "interpolate" else None,
        optimizer=get("fit.optimizer") if trains else None,
        lr=get("fit.lr") if trains else None,
        steps=get("fit.steps") if trains else None,
        smoothest=fit.smoothest and trains,
        penalty=get("fit.penalty") if fit.smoothest and trains else None,
        strengths=fit.strengths if fit.smoothest and trains else (),
        ridge=get("fit.ridge") if kind == "features" or grid.kind is not None else None,
        options=fit.options,
    )
    trial_lip = TrialLipschitz(
        domain=lip.domain,
        methods=lip.methods,
        budget_seconds=lip.budget_seconds,
        budget_nodes=lip.budget_nodes,
        test_points=lip.test_points,
        pgd_radius=get("lipschitz.pgd_radius"),
        pgd_steps=lip.pgd_steps if get("lipschitz.pgd_radius") is not None else None,
        options=lip.options,
    )
    trial_model = TrialModel(
        family=family,
        activation=get("model.activation"),
        width=None,
        hidden_layers=1 if family == "two_layer" else get("model.hidden_layers"),
        init=get("model.init") if kind != "construction" else None,
        hidden_bias=model.hidden_bias,
        output_bias=model.output_bias,
        skip=model.skip,
        construction=get("model.construction") if family == "construction" else None,
        dtype=model.dtype,
        options=model.options,
    )
    base = TrialConfig(
        experiment=grid.experiment,
        kind=kind,
        seed=get("seed"),
        data=trial_data,
        model=trial_model,
        fit=trial_fit,
        lipschitz=trial_lip,
    )
    return base, tuple(get("model.widths") or (None,))


#: Stands for the width in the canonical JSON of a grid point's shared identity; its JSON
#: text occurs nowhere else, so replacing it by a width's JSON gives that trial's canonical
#: JSON exactly (one serialization per grid point instead of one per trial).
_WIDTH_SENTINEL = "\x00width\x00"
_SENTINEL_JSON = json.dumps(_WIDTH_SENTINEL)


def _point_trials(base: TrialConfig, widths: tuple[int | None, ...]) -> list[Trial]:
    """The trials of one grid point, hashed from one shared canonical JSON."""
    identity = base.identity()
    identity["model"]["width"] = _WIDTH_SENTINEL
    template = canonical_json(identity)
    if template.count(_SENTINEL_JSON) != 1:  # pragma: no cover - the sentinel is reserved
        return [Trial.of(_with_width(base, w)) for w in widths]
    del identity["model"]["width"]
    key = hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()
    trials = []
    for width in widths:
        text = template.replace(_SENTINEL_JSON, "null" if width is None else str(int(width)))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        trials.append(Trial(config=_with_width(base, width), hash=digest, batch_key=key))
    return trials


def _replaced(original: _Frozen, /, **changes: Any) -> Any:
    """A copy of a frozen model with some fields replaced, without re-validation (as
    ``model_copy(update=...)`` does, at a fraction of its cost on large grids)."""
    copy = object.__new__(type(original))
    object.__setattr__(copy, "__dict__", {**original.__dict__, **changes})
    object.__setattr__(copy, "__pydantic_fields_set__", set(original.__pydantic_fields_set__))
    object.__setattr__(copy, "__pydantic_extra__", None)
    object.__setattr__(copy, "__pydantic_private__", None)
    return copy


def _with_width(base: TrialConfig, width: int | None) -> TrialConfig:
    """``base`` with the model's width set (every other field is the validated base's;
    widths were validated by the spec)."""
    return _replaced(base, model=_replaced(base.model, width=width))


def expand(spec: Spec | GridSpec) -> list[Trial]:
    """All trials of a spec, in grid order, each once (duplicates across cases dropped).

    The order is the cartesian product of the axes in declaration order (data, model,
    fit, lipschitz fields, then seeds), zipped axes moving together.
    """
    grids = spec.grids if isinstance(spec, Spec) else (spec,)
    seen: dict[str, Trial] = {}
    for grid in grids:
        axes = axes_of(grid)
        for combo in itertools.product(*(values for _, values in axes)):
            point: dict[str, Any] = {}
            for (names, _), values in zip(axes, combo, strict=True):
                for name, value in zip(names, values, strict=True):
                    point["seed" if name == "seeds" else name] = value
            for trial in _point_trials(*_point_config(grid, point)):
                seen.setdefault(trial.hash, trial)
    return list(seen.values())


def group(trials: Iterable[Trial], max_members: int | None = None, split: int = 1) -> list[Batch]:
    """Gather trials into batches by batch key, members ordered by width.

    Parameters
    ----------
    trials : iterable of Trial
    max_members : int, optional
        Split a group into batches of at most this many members (consecutive widths).
    split : int
        Deal each group's members into this many batches of about equal estimated cost
        (:func:`robustlaw.sweep.sizing.split_group`) before ``max_members`` applies.

    Returns
    -------
    list of Batch
        In order of each group's first trial. The batches depend on the trials and these
        two numbers only, never on where they will run.
    """
    from robustlaw.sweep.sizing import split_group

    if max_members is not None and (
        isinstance(max_members, bool) or not isinstance(max_members, int) or max_members <= 0
    ):
        raise ValueError(f"max_members must be a positive integer, got {max_members!r}")
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.batch_key, []).append(trial)
    batches = []
    for key, members in groups.items():
        members = sorted(members, key=lambda t: (t.config.model.width or 0, t.hash))
        chunks = []
        for part in split_group(members, split) if split != 1 else [members]:
            size = max_members or len(part)
            chunks.extend(part[i : i + size] for i in range(0, len(part), size))
        for i, chunk in enumerate(chunks):
            name = key if len(chunks) == 1 else f"{key}#{i}"
            batches.append(Batch(key=name, kind=chunk[0].config.kind, trials=tuple(chunk)))
    return batches


@dataclass(frozen=True)
class Plan:
    """What a run of a spec will do.

    Attributes
    ----------
    trials : list of Trial
        Every trial of the spec.
    pending : list of Trial
        Trials not finished yet (not in ``finished``).
    batches : list of Batch
        The pending trials, grouped.
    """

    trials: list[Trial]
    pending: list[Trial]
    batches: list[Batch]

    @property
    def skipped(self) -> int:
        return len(self.trials) - len(self.pending)


def make_plan(
    spec: Spec | GridSpec,
    finished: Iterable[str] = (),
    max_members: int | None = None,
    split: int | None = None,
) -> Plan:
    """Expand a spec, drop the trials whose hash is in ``finished``, group the rest
    (``split`` defaults to the spec's ``run.split``)."""
    trials = expand(spec)
    finished = set(finished)
    pending = [t for t in trials if t.hash not in finished]
    split = spec.run.split if split is None else split
    return Plan(trials=trials, pending=pending, batches=group(pending, max_members, split))
