"""``GET /`` and ``GET /console/{path}``: the web console (`service.console`), when ``console_enabled``.

The files are read once, when the router is made, and answered from memory: a path is looked up in that table,
so nothing outside the console's folder can be named. They are public (`service.rest.edge.OPEN_EXACT`): they
hold no data, and the API calls the page makes carry the key the user gives it. Every answer has a
Content-Security-Policy that lets the page load only its own files and talk only to this service.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...console import STATIC_DIR
from ...errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

#: Own files only; images may be blob: URLs (the image being detected, shown before it is sent).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'self'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".md": "text/markdown"}


@dataclass(frozen=True)
class _File:
    body: bytes
    media_type: str
    etag: str


def _load(root: Path) -> dict[str, _File]:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/"):
            kind += "; charset=utf-8"
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[path.relative_to(root).as_posix()] = _File(body, kind, etag)
    return files


_FILES = _load(STATIC_DIR)
router = APIRouter(tags=["console"], include_in_schema=False)


def _answer(request: Request, name: str) -> Response:
    found = _FILES.get(name)
    if found is None:
        raise NotFound(f"the console has no file {name!r}", field="path")
    headers = {
        "ETag": found.etag,
        "Cache-Control": "no-cache",  # revalidate: a new release's files are seen at once
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


@router.get("/")
async def console_page(request: Request) -> Response:
    """The console's page."""
    return _answer(request, "index.html")


@router.get("/console/{path:path}")
async def console_file(request: Request, path: str) -> Response:
    """One of the console's files (scripts, styles, the chart library)."""
    return _answer(request, path)
