"""The fp32 baseline: the model as built, the reference every other cell is compared with."""

from bench.optimize.base import register


@register("fp32", description="The unmodified fp32 model: the baseline for speedups and fidelity.")
def fp32(artifact, params, ctx):
    return artifact
