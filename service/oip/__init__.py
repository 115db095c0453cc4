"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST and gRPC protocol) over the service's core.

`Dataplane` answers every protocol call (health, metadata, readiness, infer) for both edges; `registry` lists
the v2 models; `loss_models` turns each loss of the `losses` package into a v2 model; `codec` converts tensors
between their JSON and raw forms and numpy.
"""

from __future__ import annotations

from .dataplane import Dataplane, InferResult

__all__ = ["Dataplane", "InferResult"]
