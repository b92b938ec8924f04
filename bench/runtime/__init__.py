"""Runtimes. Importing this package registers them all."""

from bench.runtime import ort, ort_edge, torch_rt  # noqa: F401  (registration side effects)
from bench.runtime.base import RUNTIMES, RuntimeSpec, Session

__all__ = ["RUNTIMES", "RuntimeSpec", "Session"]
