"""Memory tuning for the serving process: large buffers without page faults, and a lighter garbage collector.

glibc serves every allocation above 32 MiB (the most its adaptive ``mmap`` threshold reaches) with a fresh
``mmap`` and returns it to the kernel on free, so a 40 MB scoring body (the join of its chunks, then the
arrays built from it) faults in ten thousand new pages per request; on a virtual machine those faults took
longer than receiving the body (the figures: docs/benchmarks.md). `keep_large_buffers` raises the ``mmap``
and trim thresholds so that such blocks come from the heap and freed ones stay there for the next request:
the process keeps up to that many bytes resident after a peak, in exchange. It is the
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment tuning, applied by the service itself
(``FOCALSERVE_MALLOC_KEEP_BYTES``; 0 leaves glibc's defaults). Other C libraries (musl, macOS) are left alone.

`freeze_startup_objects` moves what start-up made (modules, the app, models, sessions) out of the cyclic
collector's reach once the models are loaded, so each full collection under load no longer walks them all
(``gc.freeze``); how many objects that is and what it does to the latency tail: docs/benchmarks.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

__all__ = ["freeze_startup_objects", "keep_large_buffers"]

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3


def keep_large_buffers(keep_bytes: int) -> bool:
    """Serve allocations up to ``keep_bytes`` from the heap and keep that much freed memory for reuse.

    Returns whether glibc accepted both settings (False, and nothing changed, elsewhere or for 0).
    """
    if keep_bytes <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    value = min(keep_bytes, 2**31 - 1)
    accepted = bool(mallopt(M_MMAP_THRESHOLD, value) == 1 and mallopt(M_TRIM_THRESHOLD, value) == 1)
    log.info("malloc keeps buffers up to %d bytes: %s", value, "on" if accepted else "not supported")
    return accepted


def freeze_startup_objects() -> int:
    """Collect once, then exempt every object alive now from later collections; returns how many.

    Call it once start-up is over: objects frozen here that later become cyclic garbage are never freed
    (start-up objects live as long as the process, so that is the right trade for a server).
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("garbage collector: %d start-up objects frozen", frozen)
    return frozen
