"""Keep freed memory in the process while a network runs (glibc's malloc only).

A forward pass allocates and frees activations of tens to hundreds of MB, one after another. glibc's
malloc serves blocks above its mmap threshold (at most 32 MB) with a fresh ``mmap`` and unmaps them on
``free``, so the kernel faults in and zeroes every page again for the next block. README, "Speed", has
the measured cost for glrl and GLADSR-L upscales.

Inside :func:`reuse_freed_memory`, glibc serves every block from its heap and does not trim the heap,
so freed pages are reused without faults. On leaving the outermost block the settings go back to
glibc's defaults and ``malloc_trim`` hands the free memory back to the system, so a long-lived process
does not keep the peak. The price is a higher peak resident memory while the block is active, because
the heap keeps its holes instead of returning them (README, "Speed", gives the peaks with and without
it). On other C libraries (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters and their glibc defaults (malloc/malloc.h, malloc/malloc.c).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
_NEVER_TRIM = 2**31 - 1  # mallopt takes a C int

_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (it alone has ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    return libc


def is_supported() -> bool:
    """Whether :func:`reuse_freed_memory` has an effect here (Linux with glibc)."""
    return _glibc() is not None


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[None]:
    """Within the block, reuse freed memory instead of unmapping it; nestable and thread-safe.

    Args:
        enabled: ``False`` makes the block a no-op (for measuring, or to keep peak memory lowest).
    """
    global _depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
