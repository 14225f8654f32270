"""Analysis of sweep records: power-law fits, verdicts against the law, figures, HTML report.

Analysis reads records and never trains. Records are a pandas DataFrame with one row per
trained or constructed network ("member"); the columns it uses (missing optional columns
are handled; NaN means "not measured"):

========================  =========================================================
column                    meaning
========================  =========================================================
experiment, status        e.g. "two_layer_law"; "done" / "failed" / "diverged"
spec_name, trial_hash     which spec; content hash of the trial
distribution, labels      data law and label model
n, d, intrinsic_dim       samples, ambient dimension, intrinsic dimension (optional)
noise_level               sigma^2
family, activation        "two_layer", "mlp", "random_features", "ntk", constructions
width, depth, p           neurons (hidden width), depth (optional), parameters
seed                      seed of data and initialization: the bootstrap unit
target, eps               "interpolate" / "below_noise"; margin below the noise level
train_mse, fit_reached    final training MSE; whether the fit target was reached
lip_lower                 best lower bound on Lip (value at a witness)
lip_upper                 best certified upper bound; lip_upper_method names it
lip_exact                 exact Lip when proven, else NaN
sensitivity               sqrt(d)·||grad f(z)|| averaged over test points (estimate)
robust_accuracy, ...      real-data experiments
fit_seconds, lip_seconds  timings
========================  =========================================================

Modules: :mod:`~robustlaw.analysis.tables` (smoothest fit per configuration and seed),
:mod:`~robustlaw.analysis.powerlaw` (fits with seed-bootstrap intervals),
:mod:`~robustlaw.analysis.verdicts` (predicted slopes from :mod:`robustlaw.theory`, fit-range
rules, verdicts), :mod:`~robustlaw.analysis.regimes` (what each slope measures: the data
floor beside it and the fixed rules that label its regime),
:mod:`~robustlaw.analysis.summary` (numbers rounded to their interval, plain-language
summaries), :mod:`~robustlaw.analysis.plots` (figures) and
:mod:`~robustlaw.analysis.report` (one self-contained HTML file).
"""

from robustlaw.analysis.plots import (
    plot_constructions,
    plot_fit_quality,
    plot_lipschitz_heatmap,
    plot_lipschitz_scaling,
    plot_lipschitz_vs_n_over_k,
    plot_sensitivity,
    save_figure,
)
from robustlaw.analysis.powerlaw import PowerLawFit, fit_power_law
from robustlaw.analysis.regimes import (
    DEFAULT_RULES,
    FloorComparison,
    Regime,
    RegimeCheck,
    RegimeRules,
    Theorem3Status,
)
from robustlaw.analysis.report import SpecText, build_report, spec_text
from robustlaw.analysis.summary import summarize, verdict_sentence
from robustlaw.analysis.tables import (
    fitted_mask,
    heatmap_table,
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

__all__ = [
    "DEFAULT_RULES",
    "RANGE_RULES",
    "RELATIONS",
    "FloorComparison",
    "PowerLawFit",
    "Regime",
    "RegimeCheck",
    "RegimeRules",
    "Relation",
    "SpecText",
    "Theorem3Status",
    "Verdict",
    "assess",
    "build_report",
    "fit_power_law",
    "fitted_mask",
    "heatmap_table",
    "in_fit_range",
    "law_values",
    "plot_constructions",
    "plot_fit_quality",
    "plot_lipschitz_heatmap",
    "plot_lipschitz_scaling",
    "plot_lipschitz_vs_n_over_k",
    "plot_sensitivity",
    "save_figure",
    "seed_summary",
    "smoothest_fits",
    "spec_text",
    "summarize",
    "validate_records",
    "verdict_sentence",
]
