"""The model zoo. Importing this package registers every model's spec in `MODELS` (no torch:
the builders are imported when a cell builds a model)."""

from bench.zoo import specs  # noqa: F401  (registration side effects)
from bench.zoo.base import MODELS, ModelSpec, Workload

__all__ = ["MODELS", "ModelSpec", "Workload"]
