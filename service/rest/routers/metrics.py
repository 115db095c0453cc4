"""``GET /metrics``: Prometheus text exposition of the app's registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...core.state import ServiceState
from . import get_state

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: ServiceState = Depends(get_state)) -> Response:
    """Request counts / latency by route and status, queue and inference time, batch sizes, queue depth,
    models loaded and the execution provider of each model version."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
