"""Published task accuracy of the pretrained models the zoo builds, each with its source.

Copied from /work/shared/reference/published_numbers.csv (rows without a mark; `[UNVERIFIED]` rows
left out). These are the accuracies of the released checkpoints: the suite builds seeded random
weights, so the report places them beside measured latency only for the fp32 model and says so.
Figures under different metrics or splits are never put on one axis.
"""

from __future__ import annotations

PUBLISHED = {
    "deit-ti": ("ImageNet-1k top-1", 72.2, "facebookresearch/deit README_deit.md"),
    "deit-s": ("ImageNet-1k top-1", 79.9, "facebookresearch/deit README_deit.md"),
    "deit-b": ("ImageNet-1k top-1", 81.8, "facebookresearch/deit README_deit.md"),
    "bert-base": ("GLUE dev macro-score", 79.5,
                  "huggingface/transformers examples/research_projects/distillation/README.md"),
    "distilbert": ("GLUE dev macro-score", 77.0,
                   "huggingface/transformers examples/research_projects/distillation/README.md"),
}


def published_accuracy(model: str) -> tuple[str, float, str] | None:
    return PUBLISHED.get(model)
