"""The console command: help and version without the library, other commands with it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _robustlaw_cli import quick
from robustlaw import __version__

HEAVY = ("torch", "numpy", "scipy", "numba", "matplotlib", "pandas", "highspy")

PROBE = """
import sys
import _robustlaw_cli
sys.argv = ["robustlaw", *{args!r}]
try:
    _robustlaw_cli.main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("\\nPROBE", code, ",".join(heavy))
"""


def _run(*args: str) -> tuple[int, str, list[str]]:
    script = PROBE.format(args=list(args), heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    output, _, last = result.stdout.rpartition("\nPROBE ")
    code, _, heavy = last.strip().partition(" ")
    return int(code), output, [m for m in heavy.split(",") if m]


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], [], ["sweep", "run", "--help"], ["demo", "--help"]]
)
def test_help_and_version_import_none_of_the_library(args):
    code, output, heavy = _run(*args)
    assert heavy == []
    if args == ["--version"]:
        assert code == 0 and output.strip() == f"robustlaw {__version__}"
    else:
        assert "Usage" in output
        assert code in (0, 2)  # no arguments: click shows the help with status 2


def test_other_commands_run_with_the_library():
    code, output, heavy = _run("bound", "--n", "100", "--d", "10", "--p", "1000", "--json")
    assert code == 0
    assert json.loads(output)["inputs"]["p"] == 1000
    assert "torch" in heavy  # `import robustlaw` ran: the library is all there


def test_which_command_lines_are_quick():
    assert quick([]) and quick(["--help"]) and quick(["sweep", "run", "--help"])
    assert quick(["--version"]) and not quick(["demo"]) and not quick(["sweep", "run", "s.toml"])
    assert not quick(["sweep", "run", "--", "--help"])  # after --, a file called --help
