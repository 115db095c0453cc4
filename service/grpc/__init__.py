"""The service's gRPC endpoint: Detection, Scoring, the Open Inference Protocol, health and reflection.

`install(state)` wires it into the app's lifespan; `GrpcServer` is the server itself.
"""

from service.grpc.server import SERVICE_NAMES, GrpcServer, install

__all__ = ["SERVICE_NAMES", "GrpcServer", "install"]
