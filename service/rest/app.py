"""The app factory: `create_app` builds the FastAPI app over a `ServiceState` and its `Dataplane`."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from .._version import __version__
from ..core.state import ServiceState
from ..oip import Dataplane
from ..settings import Settings
from .edge import EdgeMiddleware
from .openapi import MODELS, SCHEMAS, complete_operations
from .problems import install_error_handlers
from .routers import console, detect, metrics, models, score, score_sessions, v2, v2_extensions, v2_repository

__all__ = ["create_app"]

DESCRIPTION = """\
Object detection with focal-loss-trained detectors (ONNX Runtime, dynamic batching) and scoring with the focal
loss family. REST errors are RFC 9457 problem+json under `/v1` and `{"error": "..."}` under `/v2`.
When API keys are configured, send `X-API-Key` (health, metrics, docs and the console's files are open).

Besides what each operation lists: a method a path does not have is answered 405 with an `Allow` header;
every path but health, metrics and the docs may answer 413 (body over the limit), 408 (body too slow, where
there is one) and 503 (shutting down, with `Retry-After`).
"""


def create_app(
    settings: Settings | None = None, *, state: ServiceState | None = None, dataplane: Dataplane | None = None
) -> FastAPI:
    """Build the REST app.

    Given a ``state`` (as `service.runtime` does, sharing it with the gRPC server), the app serves it and
    leaves its life to the caller. Without one, the app makes its own from ``settings`` and runs its life
    in the lifespan: models load in the background once it starts (``/v2/health/ready`` tells); at the end it
    drains (readiness false, new requests 503, in-flight requests finish within ``shutdown_grace_s``) and
    stops the batchers.
    """
    owned = state is None
    state = state or ServiceState(settings or Settings())
    dataplane = dataplane or Dataplane(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not owned:
            yield
            return
        await state.start()
        try:
            yield
        finally:
            state.begin_drain()
            await state.wait_idle(state.settings.shutdown_grace_s)
            await state.stop()

    app = FastAPI(
        title="focalserve",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = state
    app.state.dataplane = dataplane
    install_error_handlers(app)
    app.add_middleware(EdgeMiddleware, state=state)
    # v2_extensions before v2: /v2/models/stats is not the metadata of a model named "stats"
    routers = (
        detect.router,
        score.router,
        score_sessions.router,
        models.router,
        v2_extensions.router,
        v2_repository.router,
        v2.router,
        metrics.router,
    )
    for router in routers:
        app.include_router(router)
    if state.settings.console_enabled:  # off: / is an unknown path (404 problem)
        app.include_router(console.router)
    schemas = {**SCHEMAS, **v2_extensions.SCHEMAS, **v2_repository.SCHEMAS}
    schemas.update(score_sessions.SCHEMAS)
    _document_models(app, MODELS, schemas, api_keys=state.api_keys.enabled)
    return app


def _document_models(
    app: FastAPI,
    extra: Sequence[type[BaseModel]],
    schemas: Mapping[str, dict[str, Any]] | None = None,
    *,
    api_keys: bool = False,
) -> None:
    """Make the OpenAPI document say what the server answers, not only what FastAPI sees.

    Adds the schemas that request bodies parsed by hand refer to (``#/components/schemas/<Model>``: pydantic
    ``extra`` models and hand-written ``schemas``), then completes every operation once, here, with what the
    edge and the error handlers may answer on it (`service.rest.openapi.complete_operations`).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = spec.setdefault("components", {})
            found = components.setdefault("schemas", {})
            for model in extra:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                found.update(schema.pop("$defs", {}))
                found[model.__name__] = schema
            found.update(copy.deepcopy(dict(schemas or {})))
            complete_operations(spec, api_keys=api_keys)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
