"""Batch scoring of Parquet datasets on Dask (``focalserve-score``; the optional ``[batch]`` extra).

Each task computes the mergeable score state of a fragment (`losses.ScoreState`, through the definition the
scoring sessions use) and writes its rows; the states merge into the summary a session would give.
"""

from .columns import ColumnError, column_array, table_arrays
from .job import Fragment, Job, expand_inputs, plan, run, score_fragment

__all__ = [
    "ColumnError",
    "Fragment",
    "Job",
    "column_array",
    "expand_inputs",
    "plan",
    "run",
    "score_fragment",
    "table_arrays",
]
