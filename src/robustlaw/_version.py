"""The installed package's version (a module of its own: the command line reads it without
importing the library)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("robustlaw")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
