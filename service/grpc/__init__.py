"""The gRPC edge: Detection, Scoring, the Open Inference Protocol, health and reflection.

`GrpcServer` is the server; `service.runtime` runs it beside the REST one.
"""

from __future__ import annotations

from .server import SERVICE_NAMES, GrpcServer

__all__ = ["SERVICE_NAMES", "GrpcServer"]
