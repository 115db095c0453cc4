"""Row sums of exponentials on ONNX Runtime, when it is installed: the cross-entropy kernel's inner loop.

numpy's float32 ``exp`` costs about as much per element as torch's whole fused log-softmax, so a numpy
cross-entropy cannot beat ``F.cross_entropy`` on a small machine. ONNX Runtime's ``Exp`` and ``ReduceSum``
(MLAS, vectorised) do the same work several times faster. The graph is fixed (``_graphs/row_exp_sums.onnx``,
written by ``scripts/gen_loss_graphs.py``). The caller runs it over chunks of rows from its own worker threads
(``_kernels``): the session has one intra-op thread, so a chunk never waits for a pool thread to wake, and
each chunk's exponentials stay in that core's cache.

ONNX Runtime is optional: without it (or with ``disabled()``), `available()` is False and the numpy kernel
runs instead; so does it, after one warning, if an installed onnxruntime cannot load the graph. The serving
image always has it, for the detector.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from ._switch import switched_off

GRAPH = Path(__file__).with_name("_graphs") / "row_exp_sums.onnx"
MIN_ELEMENTS = 1 << 16  # below this, numpy is as fast as one session call
CHUNK_ELEMENTS = 1 << 19  # elements per session call: 2 MB of float32, cache-resident exponentials

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {"enabled": True, "session": None, "missing": False}
_Arr = np.ndarray[Any, Any]


def disabled() -> AbstractContextManager[None]:
    """Run without ONNX Runtime (the numpy kernel), as on a machine that does not have it."""
    return switched_off(_state)


def _session() -> Any:
    """The shared inference session, created on first use; None when onnxruntime is not installed."""
    if _state["session"] is None and not _state["missing"]:
        with _lock:
            if _state["session"] is None and not _state["missing"]:
                try:
                    import onnxruntime as ort
                except ImportError:
                    _state["missing"] = True
                    return None
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1  # run on the calling thread; callers run chunks in parallel
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                try:
                    _state["session"] = ort.InferenceSession(
                        GRAPH.read_bytes(), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # a broken install must not break the losses: numpy computes them
                    log.warning("onnxruntime cannot run %s (%s); cross-entropy uses numpy alone", GRAPH, exc)
                    _state["missing"] = True
    return _state["session"]


def available() -> bool:
    """Whether `row_exp_sums` will run (onnxruntime importable and not disabled)."""
    return bool(_state["enabled"]) and _session() is not None


def row_exp_sums(x: _Arr) -> tuple[_Arr, _Arr]:
    """``(sums, lows)``, each ``[r]``, for one float32 chunk ``x [r, C]``: each row's ``sum exp(x)``
    (unshifted, so it overflows to inf past about 88) and its minimum. Call only when `available()`."""
    sums, lows = _session().run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})
    return sums, lows
