"""The package version, read once from the installed distribution's metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("focalserve")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
