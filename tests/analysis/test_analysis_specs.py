"""Specs in the report are shown in the language their author wrote them in."""

from __future__ import annotations

import pytest
import yaml

from robustlaw.analysis import SpecText, spec_text
from robustlaw.sweep import load_spec

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

TOML = """# a comment the author wrote
name = "tiny"
experiment = "two_layer_law"
seeds = [0, 1]

[data]
distribution = "sphere"
n = 16
d = 4
labels = "random_sign"

[model]
family = "two_layer"
activation = "relu"
widths = [2, 4]

[fit]
target = "interpolate"
"""


def test_a_toml_file_that_still_holds_the_spec_is_shown_verbatim(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML, encoding="utf-8")
    spec = load_spec(path)
    shown = spec_text(spec)
    assert shown == SpecText("tiny", "toml", TOML)
    # the store keeps the parsed content with its name; the path brings the text back
    assert spec_text({"name": "tiny", **spec.source}, str(path)).text == TOML


def test_a_changed_file_falls_back_to_the_stored_content_in_its_language(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML, encoding="utf-8")
    source = {"name": "tiny", **tomllib.loads(TOML)}
    path.write_text(TOML.replace("n = 16", "n = 32"), encoding="utf-8")
    shown = spec_text(source, str(path))
    assert shown.format == "toml" and "comment" not in shown.text
    assert tomllib.loads(shown.text) == source  # the stored spec, not the edited file


def test_yaml_stays_yaml_and_packaged_toml_stays_toml(tmp_path):
    source = {"name": "y", "seeds": [0], "data": {"n": 8}}
    shown = spec_text(source, str(tmp_path / "gone.yaml"))
    assert shown.format == "yaml" and yaml.safe_load(shown.text) == source
    packaged = spec_text(source, "robustlaw.experiments:demo.tiny.toml")
    assert packaged.format == "toml" and tomllib.loads(packaged.text) == source
    assert spec_text(source).format == "yaml"  # the language is not known


def test_not_a_spec_is_refused():
    with pytest.raises(TypeError, match="SpecText, Spec or mapping"):
        spec_text(["name", "x"])
