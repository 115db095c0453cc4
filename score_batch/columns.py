"""Arrays from Parquet columns: a list or fixed-size-list column, or one column per class (stacked).

``predictions``: one column (scalars: ``[n]``; lists of C: ``[n, C]``) or several (``[n, len(columns)]``).
``labels``: the same, or for multiclass class indices one integer column ``[n]``. Lists of unequal lengths,
nulls and non-numeric columns are errors naming the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["ColumnError", "column_array", "table_arrays"]


class ColumnError(ValueError):
    """A column that cannot be read as the array asked for (the message names it)."""


def column_array(table: pa.Table, name: str) -> np.ndarray[Any, Any]:
    """One column as ``[n]`` (scalars) or ``[n, C]`` (lists of C)."""
    if name not in table.column_names:
        raise ColumnError(f"column {name!r} is not in the input (it has {table.column_names})")
    column = table.column(name).combine_chunks()
    if column.null_count:
        raise ColumnError(f"column {name!r} has {column.null_count} nulls")
    kind = column.type
    if pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        n = len(column)
        values = column.flatten()
        if values.null_count:
            raise ColumnError(f"column {name!r} has null list items")
        width = values.__len__() // n if n else 0
        if pa.types.is_fixed_size_list(kind):
            width = kind.list_size
        else:
            lengths = column.value_lengths().to_numpy()
            if n and not (lengths == lengths[0]).all():
                raise ColumnError(
                    f"column {name!r}: lists of unequal lengths ({lengths.min()}..{lengths.max()})"
                )
        array = values.to_numpy(zero_copy_only=False).reshape(n, width)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        array = column.to_numpy(zero_copy_only=False)
    else:
        raise ColumnError(f"column {name!r} has type {kind}: numbers or lists of numbers are needed")
    out: np.ndarray[Any, Any] = array.astype(np.float64) if array.dtype.kind == "b" else array
    return out


def table_arrays(
    table: pa.Table, predictions: Sequence[str], labels: Sequence[str]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The predictions and labels arrays of ``table`` (several columns are stacked on a last axis)."""

    def stacked(names: Sequence[str]) -> np.ndarray[Any, Any]:
        if len(names) == 1:
            return column_array(table, names[0])
        parts = [column_array(table, n) for n in names]
        if any(p.ndim != 1 for p in parts):
            raise ColumnError(f"columns {list(names)}: one column per class must hold scalars")
        return np.stack(parts, axis=-1)

    x = stacked(predictions)
    if x.dtype.kind in "iu":
        x = x.astype(np.float64)
    return x, stacked(labels)
