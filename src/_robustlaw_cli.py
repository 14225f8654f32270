"""The ``robustlaw`` console command: help and version without importing the library.

``robustlaw.cli`` lives inside the package, and ``import robustlaw`` imports torch, numba
and scipy (seconds). ``--help`` and ``--version`` need none of them: for those the package
is entered without running its ``__init__`` (its submodules import as usual), and the
``__init__`` runs the moment anything asks the package for a name it defines. Every other
command line imports the package as usual before the command runs.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["main"]

#: Options that only print and exit.
QUICK_OPTIONS = frozenset({"--help", "--version"})


def quick(argv: list[str]) -> bool:
    """Whether a command line only prints help or the version (or nothing: the help)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return not options or any(arg in QUICK_OPTIONS for arg in options)


def _bare_package(name: str) -> ModuleType:
    """The package ``name`` registered without running its ``__init__`` until a name that
    only the ``__init__`` defines is asked for."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}")
    package = importlib.util.module_from_spec(spec)

    def complete(attribute: str) -> object:
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, attribute)

    package.__getattr__ = complete
    sys.modules[name] = package
    return package


def main() -> None:
    """Run the ``robustlaw`` command line."""
    if quick(sys.argv[1:]) and "robustlaw" not in sys.modules:
        _bare_package("robustlaw")
    from robustlaw.cli import main as run

    run()
