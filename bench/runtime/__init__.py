"""Runtimes. Importing this package registers every spec, and imports neither torch nor
onnxruntime: each spec names its bind function, imported when a cell binds."""

from bench.runtime import specs  # noqa: F401  (registration side effects)
from bench.runtime.base import RUNTIMES, RuntimeSpec, Session

__all__ = ["RUNTIMES", "RuntimeSpec", "Session"]
