"""The model zoo. Importing this package registers every model in `MODELS`."""

from bench.zoo import decoders, mobile_former, outliers, text, vision, vision_light  # noqa: F401  (registration side effects)
from bench.zoo.base import MODELS, ModelSpec, Workload

__all__ = ["MODELS", "ModelSpec", "Workload"]
