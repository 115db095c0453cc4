"""The Open Inference Protocol's ``inference.GRPCInferenceService`` (KServe v2 / Triton gRPC) over v2 models.

Every call is answered by the shared `service.oip.Dataplane` (the REST ``/v2`` routes use the same one); this
module only converts protobuf messages. Inputs are accepted raw (``raw_input_contents``) or typed
(``contents``); outputs are always answered raw in ``raw_output_contents`` (tritonclient's ``as_numpy`` reads
only those). Errors are raised as the service's exceptions and turned into status codes by
`service.grpc.interceptor.EdgeInterceptor`. ``ModelStreamInfer`` is `service.grpc.stream`; ``ModelConfig``
and ``ModelStatistics`` parse the dataplane's documents (Triton's JSON forms) into their messages; the model
repository extension's ``RepositoryIndex``, ``RepositoryModelLoad`` and ``RepositoryModelUnload`` read the
admin key from metadata ``x-admin-key``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from google.protobuf import json_format

from .._proto import inference_v2_pb2 as pb
from .._proto import inference_v2_pb2_grpc as pb_grpc
from ..core.arrays import check_shape
from ..core.datatypes import datatype_of, dtype_of
from ..core.model_control import ADMIN_HEADER
from ..errors import InvalidInput
from ..oip import Dataplane
from ..oip.codec import tensor_from_raw, tensor_to_raw
from .interceptor import call_timeout, metadata_value
from .stream import answer_stream

__all__ = ["InferenceServicer", "decode_inputs", "parameters_of", "tensor_from_contents"]

Context: TypeAlias = Any  # grpc.aio.ServicerContext (grpc ships no type information)

#: Protocol datatype -> the InferTensorContents field carrying it (FP16 has none: raw only).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def parameters_of(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    """Protocol parameters as plain Python values (bool, int, str or float)."""
    out: dict[str, Any] = {}
    for key, param in params.items():
        kind = param.WhichOneof("parameter_choice")
        out[key] = None if kind is None else getattr(param, kind)
    return out


def tensor_from_contents(tensor: pb.ModelInferRequest.InferInputTensor, field: str) -> npt.NDArray[Any]:
    """An input tensor from its typed ``contents`` (the element count must match its shape)."""
    dtype = dtype_of(tensor.datatype, f"{field}.datatype")
    shape = list(check_shape(list(tensor.shape), field))
    name = _CONTENTS_FIELD.get(tensor.datatype)
    if name is None:
        raise InvalidInput(f"{field}: {tensor.datatype} data must be sent in raw_input_contents", field=field)
    values = getattr(tensor.contents, name)
    if len(values) != math.prod(shape):
        raise InvalidInput(
            f"{field}: {len(values)} values in contents.{name}, shape {shape} needs {math.prod(shape)}",
            field=field,
        )
    if tensor.datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    try:
        # from Python numbers, so that a value out of the datatype's range is refused, not wrapped (an
        # int_contents array would be cast C-style: INT8 1000 -> -24)
        return np.array(list(values), dtype=dtype).reshape(shape)
    except OverflowError:
        raise InvalidInput(f"{field}: a value is out of range for {tensor.datatype}", field=field) from None


def decode_inputs(request: pb.ModelInferRequest) -> dict[str, npt.NDArray[Any]]:
    """The request's input tensors by name, from ``raw_input_contents`` or else from typed ``contents``."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents: {len(raw)} entries for {len(request.inputs)} inputs",
            field="raw_input_contents",
        )
    inputs: dict[str, npt.NDArray[Any]] = {}
    for i, tensor in enumerate(request.inputs):
        field = f"inputs.{tensor.name or i}"
        if tensor.name in inputs:
            raise InvalidInput(f"{field}: given twice", field=field)
        if raw:
            if tensor.HasField("contents"):
                raise InvalidInput(f"{field}: both contents and raw_input_contents given", field=field)
            inputs[tensor.name] = tensor_from_raw(raw[i], tensor.datatype, list(tensor.shape), field)
        else:
            inputs[tensor.name] = tensor_from_contents(tensor, field)
    return inputs


def _admin_key(context: Context) -> str | bytes | None:
    """Metadata ``x-admin-key`` of the call, if sent."""
    return metadata_value(context.invocation_metadata(), ADMIN_HEADER)


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """``inference.GRPCInferenceService`` over the dataplane's v2 models (repository and loss models)."""

    def __init__(self, dataplane: Dataplane) -> None:
        self._dataplane = dataplane

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self._dataplane.live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._dataplane.ready())

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self._dataplane.model_ready(request.name, request.version or None))

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(**self._dataplane.server_metadata())

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        meta = self._dataplane.model_metadata(request.name, request.version or None)

        def tensor(t: dict[str, Any]) -> pb.ModelMetadataResponse.TensorMetadata:
            # Triton's TensorMetadata has no parameters: the REST metadata alone carries them.
            return pb.ModelMetadataResponse.TensorMetadata(
                name=t["name"], datatype=t["datatype"], shape=t["shape"]
            )

        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tensor(t) for t in meta["inputs"]],
            outputs=[tensor(t) for t in meta["outputs"]],
        )

    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Context) -> pb.ModelConfigResponse:
        config = self._dataplane.model_config(request.name, request.version or None)
        response = pb.ModelConfigResponse()
        json_format.ParseDict(config, response.config)
        return response

    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: Context
    ) -> pb.ModelStatisticsResponse:
        stats = self._dataplane.model_statistics(request.name or None, request.version or None)
        response = pb.ModelStatisticsResponse()
        json_format.ParseDict(stats, response)
        return response

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: Context
    ) -> pb.RepositoryIndexResponse:
        models = await self._dataplane.repository_index(_admin_key(context), ready=request.ready)
        return pb.RepositoryIndexResponse(models=[pb.RepositoryIndexResponse.ModelIndex(**m) for m in models])

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        config: str | None = None
        for key, param in request.parameters.items():
            if key != "config" or param.WhichOneof("parameter_choice") != "string_param":
                raise InvalidInput(
                    f"parameter {key!r}: this service takes only 'config' (a JSON ModelConfig string)",
                    field=f"parameters.{key}",
                )
            config = param.string_param
        await self._dataplane.load_model(request.model_name, _admin_key(context), config)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        await self._dataplane.unload_model(request.model_name, _admin_key(context))
        return pb.RepositoryModelUnloadResponse()

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        return await self.infer(request, context)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: Context
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        async for response in answer_stream(requests, context, self.infer, self._dataplane.state.closing):
            yield response

    async def infer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        """One inference request answered (ModelInfer, and each message of ModelStreamInfer)."""
        result = await self._dataplane.infer(
            request.model_name,
            request.model_version or None,
            decode_inputs(request),
            parameters_of(request.parameters),
            [o.name for o in request.outputs] or None,
            call_timeout(self._dataplane.state, context),
        )
        response = pb.ModelInferResponse(model_name=result.model, model_version=result.version, id=request.id)
        for name, array in result.outputs.items():
            response.outputs.add(name=name, datatype=datatype_of(array.dtype), shape=array.shape)
            response.raw_output_contents.append(tensor_to_raw(array))
        return response
