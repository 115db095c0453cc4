"""The web console's files: plain HTML, CSS and JavaScript modules served by `service.rest.routers.console`.

Nothing here is built or fetched at run time: ``static/`` is shipped as package data as it is in the
repository, the chart library (uPlot) included under ``static/vendor/`` with its licence.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR"]

#: The folder of the console's files.
STATIC_DIR = Path(__file__).resolve().parent / "static"
