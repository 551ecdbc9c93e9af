"""Freed memory goes back to the system. glibc's malloc keeps an arena per thread and raises its mmap
threshold after the first large free, so page bodies of 50-200 KB, built in one thread and freed in another,
stay in the process as free-but-held heap: a sync with 50 KB bodies peaked at 760 MB where its live data
was under 300 MB. Two arenas and a fixed threshold (large strings in their own mappings, returned on free)
keep the peak near what is live. Nothing happens where glibc is not the allocator."""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
SETTINGS = ((M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 128 * 1024), (M_TRIM_THRESHOLD, 128 * 1024))


def return_freed_memory() -> bool:
    """Tune glibc's malloc for a long run that frees large strings; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return all(mallopt(option, value) == 1 for option, value in SETTINGS)
