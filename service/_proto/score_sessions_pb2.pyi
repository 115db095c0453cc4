from . import array_pb2 as _array_pb2
from . import scoring_pb2 as _scoring_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateScoreSessionRequest(_message.Message):
    __slots__ = ("options",)
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: _scoring_pb2.ScoreRequest
    def __init__(self, options: _Optional[_Union[_scoring_pb2.ScoreRequest, _Mapping]] = ...) -> None: ...

class ScoreSession(_message.Message):
    __slots__ = ("id", "ttl_s")
    ID_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    id: str
    ttl_s: float
    def __init__(self, id: _Optional[str] = ..., ttl_s: _Optional[float] = ...) -> None: ...

class AppendScoreChunkRequest(_message.Message):
    __slots__ = ("session_id", "chunk_id", "predictions", "labels")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    chunk_id: str
    predictions: _array_pb2.Array
    labels: _array_pb2.Array
    def __init__(self, session_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., predictions: _Optional[_Union[_array_pb2.Array, _Mapping]] = ..., labels: _Optional[_Union[_array_pb2.Array, _Mapping]] = ...) -> None: ...

class ScoreChunkAck(_message.Message):
    __slots__ = ("session_id", "chunk_id", "elements", "new")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEW_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    chunk_id: str
    elements: int
    new: bool
    def __init__(self, session_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., elements: _Optional[int] = ..., new: _Optional[bool] = ...) -> None: ...

class ScoreSessionRef(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SessionLoss(_message.Message):
    __slots__ = ("name", "reduction", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    reduction: str
    value: float
    def __init__(self, name: _Optional[str] = ..., reduction: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ScoreSessionSummary(_message.Message):
    __slots__ = ("id", "created", "losses", "clamped_count", "elements", "chunks", "breakdown")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    CLAMPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    id: str
    created: float
    losses: _containers.RepeatedCompositeFieldContainer[SessionLoss]
    clamped_count: int
    elements: int
    chunks: int
    breakdown: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., created: _Optional[float] = ..., losses: _Optional[_Iterable[_Union[SessionLoss, _Mapping]]] = ..., clamped_count: _Optional[int] = ..., elements: _Optional[int] = ..., chunks: _Optional[int] = ..., breakdown: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ScoreSessionDeleted(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
