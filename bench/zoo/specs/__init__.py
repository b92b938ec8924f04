"""The zoo's model specs: names, families, closed-form costs and the builders' names, no torch.

Each module registers one family in `bench.zoo.base.MODELS`; the builders they name live in the
family's implementation module (bench/zoo/<family>.py) and are imported when a cell builds.
"""

from bench.zoo.specs import (  # noqa: F401  (registration side effects)
    autoformer,
    decoders,
    mobile_former,
    outliers,
    t2t_vit,
    text,
    vision,
    vision_light,
)
