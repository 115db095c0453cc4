"""The service's core: models, ONNX Runtime, batching, preprocessing, detection and scoring.

Nothing here knows a transport: no fastapi, starlette or grpc import (``tests/test_layout.py`` keeps it so).
The REST and gRPC edges (`service.rest`, `service.grpc`) and the Open Inference Protocol (`service.oip`) are
built on it.
"""
