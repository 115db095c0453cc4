from . import array_pb2 as _array_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LossSpec(_message.Message):
    __slots__ = ("name", "reduction", "alpha", "alpha_per_class", "no_alpha", "gamma", "beta", "m", "k", "base", "label_smoothing", "normalizer", "ignore_index", "background_class", "weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    ALPHA_PER_CLASS_FIELD_NUMBER: _ClassVar[int]
    NO_ALPHA_FIELD_NUMBER: _ClassVar[int]
    GAMMA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    LABEL_SMOOTHING_FIELD_NUMBER: _ClassVar[int]
    NORMALIZER_FIELD_NUMBER: _ClassVar[int]
    IGNORE_INDEX_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_CLASS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    reduction: str
    alpha: float
    alpha_per_class: _array_pb2.Array
    no_alpha: bool
    gamma: float
    beta: float
    m: float
    k: float
    base: float
    label_smoothing: float
    normalizer: float
    ignore_index: int
    background_class: int
    weight: _array_pb2.Array
    def __init__(self, name: _Optional[str] = ..., reduction: _Optional[str] = ..., alpha: _Optional[float] = ..., alpha_per_class: _Optional[_Union[_array_pb2.Array, _Mapping]] = ..., no_alpha: _Optional[bool] = ..., gamma: _Optional[float] = ..., beta: _Optional[float] = ..., m: _Optional[float] = ..., k: _Optional[float] = ..., base: _Optional[float] = ..., label_smoothing: _Optional[float] = ..., normalizer: _Optional[float] = ..., ignore_index: _Optional[int] = ..., background_class: _Optional[int] = ..., weight: _Optional[_Union[_array_pb2.Array, _Mapping]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("predictions", "labels", "kind", "from_logits", "losses", "per_sample", "gradient", "anatomy", "per_class", "calibration_bins")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FROM_LOGITS_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    PER_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    ANATOMY_FIELD_NUMBER: _ClassVar[int]
    PER_CLASS_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_BINS_FIELD_NUMBER: _ClassVar[int]
    predictions: _array_pb2.Array
    labels: _array_pb2.Array
    kind: str
    from_logits: bool
    losses: _containers.RepeatedCompositeFieldContainer[LossSpec]
    per_sample: bool
    gradient: bool
    anatomy: bool
    per_class: bool
    calibration_bins: int
    def __init__(self, predictions: _Optional[_Union[_array_pb2.Array, _Mapping]] = ..., labels: _Optional[_Union[_array_pb2.Array, _Mapping]] = ..., kind: _Optional[str] = ..., from_logits: _Optional[bool] = ..., losses: _Optional[_Iterable[_Union[LossSpec, _Mapping]]] = ..., per_sample: _Optional[bool] = ..., gradient: _Optional[bool] = ..., anatomy: _Optional[bool] = ..., per_class: _Optional[bool] = ..., calibration_bins: _Optional[int] = ...) -> None: ...

class LossResult(_message.Message):
    __slots__ = ("name", "value", "per_sample", "gradient")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PER_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    per_sample: _array_pb2.Array
    gradient: _array_pb2.Array
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., per_sample: _Optional[_Union[_array_pb2.Array, _Mapping]] = ..., gradient: _Optional[_Union[_array_pb2.Array, _Mapping]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("losses", "anatomy", "clamped_count", "breakdown")
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    ANATOMY_FIELD_NUMBER: _ClassVar[int]
    CLAMPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    losses: _containers.RepeatedCompositeFieldContainer[LossResult]
    anatomy: _struct_pb2.Struct
    clamped_count: int
    breakdown: _struct_pb2.Struct
    def __init__(self, losses: _Optional[_Iterable[_Union[LossResult, _Mapping]]] = ..., anatomy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., clamped_count: _Optional[int] = ..., breakdown: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
