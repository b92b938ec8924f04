"""Mobile-Former (Chen et al., 2022): the five variants' architecture tables and published costs;
the network is in bench/zoo/mobile_former.py."""

from __future__ import annotations

from bench.reference import published_cost
from bench.zoo.base import MODELS, ModelSpec, Workload

# Per variant, from AAboys/MobileFormer mobile_former.py (= the paper's architecture tables):
# stem width, blocks as (kind, e1, out channels, stride, e2), token count, token width, head width.
# "lite" is the lite bottleneck; "mf" a Mobile-Former block (e2 is used only when stride is 2).
_S, _D = 2, 1
VARIANTS = {
    "Mobile-Former-508M": (24, [("lite", 2, 24, _D, 0), ("mf", 6, 40, _S, 4), ("mf", 3, 40, _D, 3),
                                ("mf", 6, 72, _S, 4), ("mf", 3, 72, _D, 3), ("mf", 6, 128, _S, 4),
                                ("mf", 4, 128, _D, 4), ("mf", 6, 176, _D, 4), ("mf", 6, 176, _D, 4),
                                ("mf", 6, 240, _S, 4), ("mf", 6, 240, _D, 4), ("mf", 6, 240, _D, 4)],
                           6, 192, 1920),
    "Mobile-Former-294M": (16, [("lite", 2, 16, _D, 0), ("mf", 6, 24, _S, 4), ("mf", 4, 24, _D, 4),
                                ("mf", 6, 48, _S, 4), ("mf", 4, 48, _D, 4), ("mf", 6, 96, _S, 4),
                                ("mf", 4, 96, _D, 4), ("mf", 6, 128, _D, 4), ("mf", 6, 128, _D, 4),
                                ("mf", 6, 192, _S, 4), ("mf", 6, 192, _D, 4), ("mf", 6, 192, _D, 4)],
                           6, 192, 1920),
    "Mobile-Former-214M": (12, [("lite", 2, 12, _D, 0), ("mf", 6, 20, _S, 4), ("mf", 3, 20, _D, 4),
                                ("mf", 6, 40, _S, 4), ("mf", 4, 40, _D, 4), ("mf", 6, 80, _S, 4),
                                ("mf", 4, 80, _D, 4), ("mf", 6, 112, _D, 4), ("mf", 6, 112, _D, 4),
                                ("mf", 6, 160, _S, 4), ("mf", 6, 160, _D, 4), ("mf", 6, 160, _D, 4)],
                           6, 192, 1600),
    "Mobile-Former-151M": (12, [("lite", 2, 12, _D, 0), ("mf", 6, 16, _S, 4), ("mf", 3, 16, _D, 3),
                                ("mf", 6, 32, _S, 4), ("mf", 3, 32, _D, 3), ("mf", 6, 64, _S, 4),
                                ("mf", 4, 64, _D, 4), ("mf", 6, 88, _D, 4), ("mf", 6, 88, _D, 4),
                                ("mf", 6, 128, _S, 4), ("mf", 6, 128, _D, 4), ("mf", 6, 128, _D, 4)],
                           6, 192, 1280),
    "Mobile-Former-96M": (12, [("lite", 2, 12, _D, 0), ("mf", 6, 16, _S, 4), ("mf", 6, 32, _S, 4),
                               ("mf", 3, 32, _D, 3), ("mf", 6, 64, _S, 4), ("mf", 4, 64, _D, 4),
                               ("mf", 6, 88, _D, 4), ("mf", 6, 128, _S, 4), ("mf", 6, 128, _D, 4)],
                          4, 128, 1280),
}


def _register(reference: str, size: int = 224):
    stem, blocks, token_num, token_dim, num_features = VARIANTS[reference]
    name = reference.lower()  # "mobile-former-294m"

    def params():
        return round(published_cost(reference)[0] * 1e6)

    def macs(w: Workload):
        # Published at 224x224; other sizes scale with pixel count (an estimate: the bridges'
        # attention grows with pixels x tokens, linearly too, but the Former does not).
        side = w.image_size or size
        return round(published_cost(reference)[1] * 1e9 * w.batch_size * (side / size) ** 2)

    MODELS.add(ModelSpec(name, "vit-hybrid", "vision", "bench.zoo.mobile_former:mobile_former", params, macs,
                         build_args=dict(reference=reference), default_size=size,
                         description=f"{reference}, {token_num} tokens of width {token_dim}, 224x224 "
                                     "(Chen et al., 2022)",
                         config=dict(cost_source="published", reference=reference, stem=stem,
                                     token_num=token_num, token_dim=token_dim, num_features=num_features)))


for _ref in VARIANTS:
    _register(_ref)
