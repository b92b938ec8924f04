"""The model zoo. Importing this package registers every model in `MODELS`."""

from bench.zoo import (  # noqa: F401  (registration side effects)
    autoformer,
    decoders,
    mobile_former,
    outliers,
    t2t_vit,
    text,
    vision,
    vision_light,
)
from bench.zoo.base import MODELS, ModelSpec, Workload

__all__ = ["MODELS", "ModelSpec", "Workload"]
