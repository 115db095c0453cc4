"""The one datatype table: Open Inference Protocol names, numpy dtypes and ONNX Runtime type strings.

``BYTES`` tensors are numpy ``object`` arrays of ``bytes``. Every edge and every codec looks types up here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInput

__all__ = ["ARRAY_DTYPES", "DATATYPES", "datatype_of", "datatype_of_onnx", "dtype_of"]

#: Protocol datatype -> numpy dtype (little-endian; ``BYTES``: object arrays of ``bytes``).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

#: ONNX Runtime's element type strings (``NodeArg.type``) -> protocol datatype.
_ONNX = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}

#: numpy dtype names accepted in ``focalserve.v1.Array`` (the scoring API's packed arrays).
ARRAY_DTYPES: dict[str, np.dtype[Any]] = {
    DATATYPES[n].name: DATATYPES[n]
    for n in ("FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "BOOL")
}

_BY_KIND = {(dt.kind, dt.itemsize): name for name, dt in DATATYPES.items() if name != "BYTES"}


def dtype_of(datatype: str, field: str = "datatype") -> np.dtype[Any]:
    """The numpy dtype of a protocol datatype name.

    Raises:
        InvalidInput: an unknown name, naming ``field``.
    """
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}", field=field
        ) from None


def datatype_of(dtype: npt.DTypeLike) -> str:
    """The protocol datatype name of a numpy dtype (``object``/``bytes``/``str`` arrays are ``BYTES``)."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return "BYTES"
    name = _BY_KIND.get((dt.kind, dt.itemsize))
    if name is None:
        raise TypeError(f"no Open Inference Protocol datatype for numpy dtype {dt}")
    return name


def datatype_of_onnx(type_string: str) -> str:
    """The protocol datatype of an ONNX Runtime type string such as ``tensor(float)`` (unknown: as given)."""
    return _ONNX.get(type_string, type_string)
