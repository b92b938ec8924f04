"""Every optimization's spec, importable without torch: planning and checking a suite read these.

One module per technique family, mirroring bench/optimize/<family>.py, which holds the
implementation each spec names. Imported in the order the families were always registered in.
"""

# isort: off
from bench.optimize.specs import (  # noqa: F401  (registration side effects)
    baseline, compile, export, faults, ort_graph, quant_static, outliers, precision, quantize, weight_only,
    attention, elastic, factorize, normalize, prune, tokens, varlen,
)
# isort: on
