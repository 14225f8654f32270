"""The HTML report: self-contained, escaped, complete; rendered in headless Chromium; CLI."""

from __future__ import annotations

import html
import re
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from analysis_chromium import HeadlessChromium, available
from analysis_synthetic import all_records, two_layer_records
from typer.testing import CliRunner

from robustlaw.analysis import assess, build_report
from robustlaw.analysis.report import REPORT_NAME

HOSTILE_DISTRIBUTION = "<script>alert('d')</script>"
HOSTILE_EXPERIMENT = '"><img src=x onerror=alert(1)>'
HOSTILE_ACTIVATION = "x$^2$/2 & <b>bold</b>"
HOSTILE_SPEC = "</pre><script>document.body.remove()</script>"
HOSTILE_TITLE = "Sweep <i>title</i> & 'quotes'"


def _hostile_records() -> pd.DataFrame:
    records = all_records()
    two_layer = records["experiment"].eq("two_layer_law")
    records.loc[two_layer, "distribution"] = HOSTILE_DISTRIBUTION
    records.loc[
        records["experiment"].eq("rf_ntk") & records["activation"].eq("cos"), "activation"
    ] = HOSTILE_ACTIVATION
    extra = two_layer_records(seeds=(0, 1, 2), ns=(64,), d=8).assign(experiment=HOSTILE_EXPERIMENT)
    extra["lip_upper_method"] = "<b>spectral</b>"
    return pd.concat([records, extra], ignore_index=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    records = _hostile_records()
    specs = [{"name": "two-layer <sweep>", "note": HOSTILE_SPEC, "n": [256, 512, 1024]}]
    meta = {"title": HOSTILE_TITLE, "commit": "abc123", "operator": "<admin>"}
    path = build_report(records, out, specs=specs, meta=meta, n_resamples=999)
    return path, records, path.read_text(encoding="utf-8")


def test_report_is_written_with_figures_next_to_it(report):
    path, _, page = report
    assert path == path.parent / REPORT_NAME and path.exists()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == page.count("<img ") >= 6
    figures = path.parent / "figures"
    pngs = sorted(figures.glob("*.png"))
    assert len(pngs) == len(images)
    for png in pngs:
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert any(name in page for name in ("two_layer_law-heatmap.png",))


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "table",
    "thead", "tbody", "tr", "th", "td", "figure", "img", "figcaption", "pre", "details",
    "summary", "sub", "ol", "li", "b",
}  # fmt: skip


def test_report_is_self_contained(report):
    _, _, page = report
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    csp = [a["content"] for t, a in parser.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "img-src data:" in csp[0]
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "action", "srcset"):
                assert tag == "img" and value.startswith("data:image/png;base64,"), (tag, name)
    lowered = page.lower()
    for token in ("@import", "url(", "http://", "https://"):
        assert token not in lowered, token


def test_report_escapes_hostile_text(report):
    _, _, page = report
    for raw in (HOSTILE_DISTRIBUTION, HOSTILE_EXPERIMENT, HOSTILE_SPEC, HOSTILE_TITLE, "<admin>"):
        assert raw not in page
    assert html.escape(HOSTILE_DISTRIBUTION) in page
    assert html.escape(HOSTILE_EXPERIMENT) in page
    assert f"<title>{html.escape(HOSTILE_TITLE)}</title>" in page
    assert html.escape("<b>spectral</b>") in page
    # The spec's YAML is shown as text.
    assert html.escape("note: ") in page and "&lt;/pre&gt;&lt;script&gt;" in page


def test_report_tables_carry_the_numbers(report):
    _, records, page = report
    verdicts = assess(records, n_resamples=999)
    statements = [v.statement for v in verdicts]
    assert statements
    for statement in statements:
        assert html.escape(statement) in page
    assert "consistent at 95%" in page and "inconsistent at 95%" in page
    for section in ("Records", "Timings", "Specs", "Environment", "Verdicts"):
        assert f">{section}<" in page
    for package in ("python", "torch", "numpy", "scipy", "matplotlib"):
        assert f"<td>{package}</td>" in page
    # Timings: total fit seconds of two_layer_law.
    total = pd.to_numeric(
        records.loc[records["experiment"].eq("two_layer_law"), "fit_seconds"]
    ).sum()
    assert f"{total:.3g}" in page
    assert "n/d ≤ k ≤ n" in page
    assert "certified upper bound on Lip" in page


@pytest.mark.skipif(not available(), reason="chromium is not installed at /usr/bin/chromium")
def test_report_renders_in_chromium_without_errors(report, tmp_path):
    path, _, page = report
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:; script-src 'unsafe-inline'\"></head><body>"
        "<img src='data:image/png;base64,AAAA' alt='corrupt'>"
        "<img src='http://127.0.0.1:9/outside.png' alt='external'>"
        "<script>console.error('boom'); missingFunction();</script></body></html>",
        encoding="utf-8",
    )
    with HeadlessChromium() as browser:
        rendered = browser.render(path)
        control = browser.render(broken)
    assert rendered.errors == []
    assert len(rendered.images) == page.count("<img ")
    assert rendered.broken_images == []
    assert all(image["naturalWidth"] >= 900 for image in rendered.images)
    # The same checks catch a broken page: corrupt and blocked images, console errors,
    # uncaught exceptions and the blocked external load.
    assert {i["alt"] for i in control.broken_images} == {"corrupt", "external"}
    assert any("boom" in e for e in control.errors)
    assert any("missingFunction" in e for e in control.errors)
    assert any("Content Security Policy" in e or "outside.png" in e for e in control.errors)


def test_build_report_bad_input(tmp_path):
    with pytest.raises(TypeError, match="records must be a pandas DataFrame"):
        build_report({"experiment": []}, tmp_path)
    with pytest.raises(TypeError, match="specs"):
        build_report(two_layer_records(), tmp_path, specs={"name": "x"})
    with pytest.raises(TypeError, match="meta"):
        build_report(two_layer_records(), tmp_path, meta=["title"])


def test_report_command_reads_the_store_and_writes_html(tmp_path, monkeypatch):
    import typer

    from robustlaw.cli.report import report as report_command

    records = two_layer_records(seeds=(0, 1, 2), ns=(64, 128), d=8)
    records.attrs["specs"] = [{"name": "from-store"}]
    calls = []

    def load(store: Path) -> pd.DataFrame:
        calls.append(store)
        if not Path(store).exists():
            raise FileNotFoundError(f"no sweep store at {store}")
        return records

    monkeypatch.setitem(sys.modules, "robustlaw.sweep", types.SimpleNamespace(load=load))
    app = typer.Typer()
    app.command()(report_command)
    app.command("noop")(lambda: None)  # keep "report" a sub-command as in the real app
    store = tmp_path / "sweep.sqlite"
    store.write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(store), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / REPORT_NAME).read_text(encoding="utf-8")
    assert "from-store" in page and "sweep.sqlite" in page
    assert calls == [store]
    missing = runner.invoke(app, ["report", str(tmp_path / "nope"), "-o", str(tmp_path / "o2")])
    assert missing.exit_code == 2
    assert "no sweep store" in missing.output
