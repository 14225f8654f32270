"""Figures: every plot type writes PNG/PDF/SVG with real content at paper size."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from analysis_synthetic import (
    construction_records,
    rf_ntk_records,
    two_layer_records,
)
from matplotlib.collections import FillBetweenPolyCollection, PolyCollection
from matplotlib.text import Text

from robustlaw.analysis import (
    assess,
    heatmap_table,
    in_fit_range,
    plot_constructions,
    plot_fit_quality,
    plot_lipschitz_heatmap,
    plot_lipschitz_vs_n_over_k,
    plot_sensitivity,
    save_figure,
    seed_summary,
    smoothest_fits,
)
from robustlaw.analysis.plots import COLUMN_WIDTH, MIN_FONT_SIZE, PNG_DPI


@pytest.fixture(scope="module")
def two_layer():
    records = two_layer_records(exact=True)
    cells = smoothest_fits(records)
    cells["in_range"] = in_fit_range(cells)
    verdicts = assess(records, n_resamples=999)
    fits = [(v.quantity, v.fit) for v in verdicts if v.relation == "Lip vs n/k"]
    return records, cells, fits


def _figures(two_layer):
    records, cells, fits = two_layer
    rf = smoothest_fits(rf_ntk_records())
    yield "scaling", plot_lipschitz_vs_n_over_k(cells, fits=fits), "n/k"
    yield "heatmap", plot_lipschitz_heatmap(heatmap_table(cells, "lip_upper")), "k (neurons)"
    done = records.loc[records["status"] == "done"]
    yield "fit_quality", plot_fit_quality(done, noise_level=1.0), "memorization"
    summary = seed_summary(rf, ["family", "activation", "p"], "sensitivity")
    yield "sensitivity", plot_sensitivity(summary), "p (parameters)"
    yield "constructions", plot_constructions(smoothest_fits(construction_records())), "relu_caps"


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


def test_every_plot_type_writes_files_with_content(two_layer, tmp_path):
    for name, fig, expected_text in _figures(two_layer):
        assert fig.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH)
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 7]
        assert not small, f"{name}: fonts below {MIN_FONT_SIZE} pt: {small}"
        paths = save_figure(fig, tmp_path / name)
        assert set(paths) == {"png", "pdf", "svg"}
        image = mpimg.imread(paths["png"])
        assert image.shape[1] >= COLUMN_WIDTH * 200 * 0.99, f"{name}: PNG below 200 dpi"
        assert image.shape[1] == pytest.approx(COLUMN_WIDTH * PNG_DPI, abs=2)
        rgb = image[..., :3]
        inked = np.mean(rgb.min(axis=-1) < 0.9)
        colours = np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)
        assert inked > 0.02, f"{name}: almost blank ({inked:.3f} inked)"
        assert len(colours) > 20, f"{name}: only {len(colours)} colours"
        assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
        assert paths["pdf"].stat().st_size > 5_000
        root = ET.parse(paths["svg"]).getroot()
        assert root.tag.endswith("svg")
        svg_text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        assert expected_text in svg_text, f"{name}: {expected_text!r} not among SVG texts"
        tags = [t.tag.rsplit("}", 1)[-1] for t in root.iter()]
        if name == "heatmap":
            assert "image" in tags  # the raster of cells
        else:
            assert tags.count("path") > 20, f"{name}: {tags.count('path')} paths"


def test_scaling_plot_draws_law_line_fits_and_bands(two_layer):
    _, cells, fits = two_layer
    reference = ([1.0, 16.0], [1.0, 4.0], "√(n/k)")
    fig = plot_lipschitz_vs_n_over_k(cells, fits=fits, references=[reference])
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, FillBetweenPolyCollection | PolyCollection)]
    assert len(bands) == sum(1 for _, fit in fits if fit.band) == 3
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "√(n/k)" in labels
    assert any(label.startswith("fit, certified upper bound: 0.5") for label in labels)
    assert "exact (proven)" in labels and "outside fit range" in labels
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "certified" in ax.get_ylabel()


def test_heatmap_marks_cells_without_a_fit(two_layer):
    _, cells, _ = two_layer
    grid = heatmap_table(cells, "lip_upper")
    fig = plot_lipschitz_heatmap(grid)
    crosses = [t for t in _texts(fig) if t.get_text() == "×"]
    assert len(crosses) == int(np.isposinf(grid.to_numpy()).sum()) > 0


def test_hostile_labels_do_not_break_mathtext(tmp_path):
    summary = pd.DataFrame(
        {
            "family": ["ntk", "ntk"],
            "activation": ["x$^2$/2 <b>", "x$^2$/2 <b>"],
            "p": [100, 200],
            "median": [2.0, 1.5],
            "q25": [1.9, 1.4],
            "q75": [2.1, 1.6],
        }
    )
    fig = plot_sensitivity(summary, title="$unbalanced")
    paths = save_figure(fig, tmp_path / "hostile")
    assert paths["png"].stat().st_size > 10_000
    assert any("x$^2$/2 <b>" in t.get_text().replace("\\$", "$") for t in _texts(fig))


def test_empty_inputs_give_a_labelled_empty_figure(tmp_path):
    empty = pd.DataFrame({"n_over_k": [], "lip_lower": [], "lip_upper": []})
    fig = plot_lipschitz_vs_n_over_k(empty)
    assert any("no cells" in t.get_text() for t in _texts(fig))
    grid = pd.DataFrame([[np.nan]], index=[10], columns=[4])
    fig = plot_lipschitz_heatmap(grid)
    assert any("no fitted cells" in t.get_text() for t in _texts(fig))


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="lip_upper"):
        plot_lipschitz_vs_n_over_k(pd.DataFrame({"n_over_k": [1.0], "lip_lower": [1.0]}))
    with pytest.raises(TypeError, match="DataFrame"):
        plot_fit_quality([1, 2, 3])
    with pytest.raises(ValueError, match="suffix"):
        save_figure(plot_lipschitz_heatmap(pd.DataFrame([[1.0]])), "figure.png")
    with pytest.raises(ValueError, match="formats"):
        save_figure(plot_lipschitz_heatmap(pd.DataFrame([[1.0]])), tmp_path / "f", ("jpg",))


def test_infinite_lipschitz_constants_are_reported_not_drawn(tmp_path):
    """Threshold units are discontinuous: their constructions have Lip = inf."""
    cells = smoothest_fits(construction_records())
    baum = cells["family"].eq("baum")
    cells.loc[baum, ["lip_lower", "lip_upper", "lip_exact"]] = np.inf
    fig = plot_constructions(cells)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"Lip = ∞ in {int(baum.sum())} cells (not drawn)" in labels
    assert save_figure(fig, tmp_path / "inf")["png"].stat().st_size > 10_000
    only_infinite = plot_constructions(cells.loc[baum])
    assert any("Lip = ∞ in all" in t.get_text() for t in _texts(only_infinite))
    save_figure(only_infinite, tmp_path / "all-inf")
