"""robustlaw: the law of robustness, computed, tested and measured.

The public surface is small; submodules hold the implementations:

- :mod:`robustlaw.theory` — closed-form laws with the papers' exact constants.
"""

from importlib.metadata import PackageNotFoundError, version

from robustlaw import theory

try:
    __version__ = version("robustlaw")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "theory"]
