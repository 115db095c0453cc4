"""`service.core.memory.keep_large_buffers`: freed large blocks stay in the heap for the next request."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.memory import keep_large_buffers
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GLIBC = platform.libc_ver()[0] == "glibc"

# Allocates and frees a 40 MB block (a scoring body's size), then reads glibc's mallinfo2: "fordblks" is the
# free memory the heap holds. Without the tuning the block is an mmap, returned to the kernel on free.
PROBE = """
import ctypes, sys
from service.core.memory import keep_large_buffers
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert keep_large_buffers(512 * 1024 * 1024)
block = bytearray(40_000_000)
del block
print(libc.mallinfo2().fordblks)
"""


def _free_heap_bytes(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return int(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_freed_large_blocks_stay_in_the_heap_only_when_tuned():
    assert _free_heap_bytes("tuned") >= 40_000_000
    assert _free_heap_bytes("default") < 40_000_000


def test_zero_leaves_the_allocator_alone():
    assert keep_large_buffers(0) is False


def test_the_setting_defaults_on_and_reads_the_environment(monkeypatch):
    assert Settings().malloc_keep_bytes == 512 * 1024 * 1024
    monkeypatch.setenv("FOCALSERVE_MALLOC_KEEP_BYTES", "0")
    assert Settings().malloc_keep_bytes == 0


# Freezes in a child process (a frozen test process would keep every later test's garbage): objects alive at
# the call leave the collector's lists, while cycles made afterwards are still collected.
FREEZE = """
import gc, weakref
from service.core.memory import freeze_startup_objects
class Node:
    pass
before = [Node()]
frozen = freeze_startup_objects()
assert frozen == gc.get_freeze_count() > 1000, frozen
tracked = {id(o) for o in gc.get_objects()}
assert id(before) not in tracked
after = Node(); after.self = after; alive = weakref.ref(after)
assert id(after) in {id(o) for o in gc.get_objects()}
del after
gc.collect()
assert alive() is None
print("ok", frozen)
"""


def test_freeze_exempts_start_up_objects_and_still_collects_new_cycles():
    out = subprocess.run(
        [sys.executable, "-c", FREEZE], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr
