"""Handing freed memory back to the system, for long-lived processes (GRPO's trainer, Ray scoring workers).

Python frees objects into glibc's heap, which keeps the pages: a process that loads many differently sized things
(rollouts of varying lengths, one task's sources after another) grows until the OS or Ray's memory monitor kills
it, though most of its heap is free. `release_memory` collects garbage and trims the heap.
"""
from __future__ import annotations


def release_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass
