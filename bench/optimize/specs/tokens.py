"""Token reduction: fewer tokens in later layers (EViT/DynamicViT, PoWER-BERT style)."""

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

EVIT = ("Liang et al., EViT: Not All Patches Are What You Need (ICLR 2022); Rao et al., DynamicViT "
        "(NeurIPS 2021); survey Sec. V (token pruning)")
LAT = ("Kachuee et al., Latency Adjustable Transformer Encoder for Language Understanding "
       "(arXiv:2201.03327); Goyal et al., PoWER-BERT (ICML 2020)")


class KeepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_rate: float = Field(default=0.7, gt=0.0, le=1.0)
    layers: list[int] = Field(default_factory=lambda: [3, 6, 9])  # 0-based layer indices


class ViTKeepParams(KeepParams):
    fuse: bool = False  # EViT: fuse the dropped tokens into one, weighted by CLS attention


OPTIMIZATIONS.add(OptimizationSpec(
    "vit-token-keep", "bench.optimize.tokens:vit_token_keep", params=ViTKeepParams, families=("vit",),
    changes_shapes=True, changes_numerics=True, exportable=False, paper=EVIT,
    description="Keep the patch tokens the CLS token attends to most at chosen layers "
                "(EViT/DynamicViT style)."))
OPTIMIZATIONS.add(OptimizationSpec(
    "bert-word-elimination", "bench.optimize.tokens:bert_word_elimination", params=KeepParams,
    families=("bert",), changes_shapes=True, changes_numerics=True, exportable=False, paper=LAT,
    description="Eliminate the word vectors that receive the least attention at chosen layers "
                "(Latency Adjustable Transformer Encoder / PoWER-BERT)."))
