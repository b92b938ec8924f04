"""Fault injection, for testing the harness itself: a cell that raises, crashes, aborts or hangs.

These exist so that the tests can prove a sweep survives a bad cell; they never appear in a
real suite's results except as the failures they cause.
"""

from __future__ import annotations

import ctypes
import os
import time

from bench.optimize.specs.faults import FaultParams


def debug_fault(artifact, params: FaultParams, ctx):
    if params.mode == "raise":
        raise RuntimeError("debug-fault: injected exception")
    if params.mode == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV in native code
    if params.mode == "abort":
        os.abort()
    if params.mode == "hang":
        time.sleep(10_000)
    if params.mode == "oom":
        hog = []
        while True:
            hog.append(b"\x01" * (64 * 1024 * 1024))  # written, so resident: RSS grows
            time.sleep(0.05)  # about 1 GB/s: a memory limit polled 5 times a second overshoots little
    return artifact
