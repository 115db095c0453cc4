"""The app factory: `create_app(settings)` builds the FastAPI app, its state, lifespan, edge and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from . import __version__, v2_infer
from .edge import EdgeMiddleware, install_error_handlers
from .grpc import install as install_grpc
from .routers import detect, metrics, models, score, v2_health
from .settings import Settings
from .state import ServiceState

__all__ = ["create_app"]

DESCRIPTION = """\
Object detection with focal-loss-trained detectors (ONNX Runtime, dynamic batching) and scoring with the focal
loss family. REST errors are RFC 9457 problem+json under `/v1` and `{"error": "..."}` under `/v2`.
When API keys are configured, send `X-API-Key` (health, metrics and docs are open).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service app. Models load in the background once it starts (``/v2/health/ready`` tells).

    The lifespan: start -> load models, run ``state.on_startup`` hooks (the gRPC server starts there); stop ->
    drain (readiness false, new requests 503, in-flight requests finish within ``shutdown_grace_s``), run
    ``state.on_shutdown`` hooks in reverse order, then stop the batchers.
    """
    settings = settings or Settings()
    state = ServiceState(settings)
    v2_infer.install(state)  # the loss models become v2 models; GET /v2 lists binary_tensor_data
    install_grpc(state)  # the gRPC server starts / stops in the lifespan hooks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        for hook in state.on_startup:
            await hook(state)
        try:
            yield
        finally:
            state.begin_drain()
            await state.wait_idle(settings.shutdown_grace_s)
            for hook in reversed(state.on_shutdown):
                await hook(state)
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
    install_error_handlers(app)
    app.add_middleware(EdgeMiddleware, state=state)
    for router in (detect.router, score.router, models.router, v2_health.router, metrics.router):
        app.include_router(router)
    app.include_router(v2_infer.router)  # POST /v2/models/{name}[/versions/{v}]/infer
    _document_models(app, score.DOCUMENTED_MODELS)
    return app


def _document_models(app: FastAPI, extra: Sequence[type[BaseModel]]) -> None:
    """Add schemas that request bodies parsed by hand refer to (``#/components/schemas/<Model>``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in extra:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
