"""``JSONBody``: a JSON response written by orjson, for the hot endpoints (detect, score).

orjson is faster than the stdlib encoder that Starlette's ``JSONResponse`` uses, which took a visible share of
the event loop's time under detection load on a small host (the figures: docs/benchmarks.md). It writes numpy
arrays and scalars directly and always emits valid JSON: a non-finite float becomes ``null`` rather than the
bare ``NaN`` token.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["JSONBody"]


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
