"""The documentation: every code block runs (at a tiny size where tagged), the site builds
with warnings as errors, and its API reference documents every public name.

Code blocks are the fenced ``python`` and ``bash`` blocks of every page under docs/. A page's
blocks run in order in one fresh directory (later blocks may read files earlier ones wrote),
each Python block in its own interpreter, each bash block with ``set -euo pipefail``, with the
virtual environment's executables first on PATH and ``$ROBUSTLAW_ROOT`` naming the
repository. A block that would take minutes at its printed size carries, on the lines just
above its fence, one or more tags

    <!-- test: replace "OLD" "NEW" -->

that the test applies before running it (visible in the page's source, not on the site).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
#: Packages whose ``__all__`` the API reference must cover, with their reference page.
REFERENCE = {
    "robustlaw": "robustlaw",
    "robustlaw.theory": "theory",
    "robustlaw.data": "data",
    "robustlaw.models": "models",
    "robustlaw.models.constructions": "constructions",
    "robustlaw.fitting": "fitting",
    "robustlaw.lipschitz": "lipschitz",
    "robustlaw.sweep": "sweep",
    "robustlaw.analysis": "analysis",
    "robustlaw.experiments": "experiments",
    "robustlaw.cli": "cli",
}
RUN = {"python", "bash"}
#: Fence languages that are shown, not run (data and spec files, plain text).
SHOWN = {"", "text", "toml", "yaml", "json"}

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
_TAG = re.compile(r'<!--\s*test:\s*replace\s+"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"\s*-->')


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with their tags applied."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        before = text[: match.start()].rstrip("\n").split("\n")
        tags = []
        while before and _TAG.fullmatch(before[-1].strip()):
            tags.append(_TAG.fullmatch(before.pop().strip()).groups())
        for old, new in reversed(tags):
            old, new = _unescape(old), _unescape(new)
            assert old in code, f"{page.name}: tag replaces {old!r}, absent from its block"
            code = code.replace(old, new)
        line = text[: match.start()].count("\n") + 1
        out.append(Block(page, line, language, code))
    return out


PAGES = sorted(DOCS.rglob("*.md"))
RUNNABLE = [p for p in PAGES if any(b.language in RUN for b in blocks(p))]
#: ``ray stop`` ends every Ray process on the machine: pages that start a cluster run in the
#: same test process as the other tests that use Ray, one after another.
RAY = pytest.mark.xdist_group("ray")


def _page_param(page: Path) -> object:
    starts_ray = any("ray start" in b.code for b in blocks(page))
    return pytest.param(page, marks=RAY) if starts_ray else page


def test_every_fenced_block_is_run_or_plainly_shown():
    for page in PAGES:
        for block in blocks(page):
            assert block.language in RUN | SHOWN, f"{page}:{block.line}: ```{block.language}"
    assert len(RUNNABLE) >= 7  # getting started, five how-to pages, tutorials


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ROBUSTLAW_ROOT"] = str(ROOT)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.setdefault("NO_MKDOCS_2_WARNING", "1")
    return env


def _run(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    return subprocess.run(
        command, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", [_page_param(p) for p in RUNNABLE], ids=lambda p: str(p.relative_to(DOCS))
)
def test_docs_code_blocks_run(page, tmp_path):
    runnable = [b for b in blocks(page) if b.language in RUN]
    try:
        for block in runnable:
            result = _run(block, tmp_path)
            assert result.returncode == 0, (
                f"{page.relative_to(ROOT)}:{block.line} ({block.language}) failed:\n"
                f"{block.code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n"
                f"{result.stderr[-3000:]}"
            )
    finally:
        if any("ray start" in b.code for b in runnable):
            subprocess.run(
                [str(BIN / "ray"), "stop", "--force"], env=_environment(), capture_output=True
            )


def test_tags_apply_to_their_own_block():
    page = DOCS / "getting-started.md"
    first = next(b for b in blocks(page) if b.language == "bash")
    assert "make demo" not in first.code and "--scale tiny" in first.code
    assert "make -C" in first.code and " -n test" in first.code


EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def _tiny_flag(script: Path) -> str:
    text = script.read_text(encoding="utf-8")
    return "--tiny" if '"--tiny"' in text else "--quick"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_examples_run_at_tiny_size(script, tmp_path):
    flag = _tiny_flag(script)
    args = [sys.executable, str(script), flag]
    if "--out" in script.read_text(encoding="utf-8"):
        args += ["--out", str(tmp_path / "out")]
    result = subprocess.run(
        args, cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"{shlex.join(args)}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip()


def test_every_tutorial_script_has_a_tiny_mode_and_a_page_row():
    page = (DOCS / "tutorials.md").read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 4
    for script in EXAMPLES:
        assert f"examples/{script.name}" in page
        assert _tiny_flag(script) in script.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "WARNING" not in result.stderr
    return out


def test_site_builds_strict_with_every_page(site):
    for page in PAGES:
        relative = page.relative_to(DOCS).with_suffix("")
        html = site / relative / "index.html" if relative.name != "index" else None
        html = html or site / relative.parent / "index.html"
        assert html.exists(), f"{page} was not built"


@pytest.mark.parametrize("module", sorted(REFERENCE))
def test_reference_documents_every_public_name(site, module):
    html = (site / "reference" / REFERENCE[module] / "index.html").read_text(encoding="utf-8")
    names = importlib.import_module(module).__all__
    # a subpackage in __all__ has its own reference page
    missing = [
        n
        for n in names
        if not n.startswith("__")
        and f"{module}.{n}" not in REFERENCE
        and f'id="{module}.{n}"' not in html
        and f'id="{module}.{n}.{n}"' not in html  # a function shadowing its own module
    ]
    assert not missing, f"{module}: no reference entry for {missing}"
