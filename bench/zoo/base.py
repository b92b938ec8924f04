"""What a model in the zoo declares: how to build it, its inputs, and its closed-form cost.

Every model is built from an architecture config with seeded random weights, so runs need no
network and are reproducible. The closed-form parameter and MAC counts exist to cross-check
the graph counters: if they disagree, one of them is wrong and the test suite says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bench.registry import Registry


@dataclass(frozen=True)
class Workload:
    """The shape one cell runs: batch size plus sequence length (text) or image side (vision).

    Decoders use `seq_len` as the prompt length and add `new_tokens`, the tokens generated.
    """

    batch_size: int
    seq_len: int | None = None
    image_size: int | None = None
    # Text only: each sequence's real length is drawn uniformly from [lo, hi]; the rest is padding.
    real_lengths: tuple[int, int] | None = None
    new_tokens: int | None = None  # decoders only: tokens generated after the prompt

    def __post_init__(self):
        if self.real_lengths is not None:  # JSON round trips give a list
            object.__setattr__(self, "real_lengths", tuple(self.real_lengths))

    @property
    def label(self) -> str:
        size = f"s{self.seq_len}" if self.seq_len is not None else f"i{self.image_size}"
        ragged = f"-r{self.real_lengths[0]}_{self.real_lengths[1]}" if self.real_lengths else ""
        gen = f"-n{self.new_tokens}" if self.new_tokens is not None else ""
        return f"b{self.batch_size}-{size}{ragged}{gen}"


def per_item_inputs(model_spec, workload, inputs: dict) -> tuple[dict, int]:
    """One item's inputs where the batch is that item repeated in cost, and the batch size it stands for.

    MAC counting uses it (count one item, scale), and so does the ONNX export (trace one item with
    a dynamic batch axis, share the file across batch sizes).

    An encoder or a vision model does the same work for every item of a batch when no item is
    padded differently, so counting one item and multiplying is exact and spares a full-batch
    forward pass on the CPU (seconds for BERT-large at batch 64). Ragged text and decoders are
    counted on the whole batch.
    """
    b = workload.batch_size
    if b == 1 or model_spec.modality not in ("vision", "text") or workload.real_lengths is not None:
        return inputs, 1
    if any(len(getattr(v, "shape", ())) == 0 or v.shape[0] != b for v in inputs.values()):
        return inputs, 1
    return {k: v[:1] for k, v in inputs.items()}, b


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "bert", "vit", ...: optimizations declare the families they apply to
    modality: str  # "text", "vision" or "decoder"
    build_fn: Callable[[], torch.nn.Module]
    inputs_fn: Callable[[Workload, torch.Generator], dict[str, torch.Tensor]]
    params_fn: Callable[[], int]
    macs_fn: Callable[[Workload], int]
    default_size: int = 128
    description: str = ""
    teacher: str | None = None  # distilled models name the model they were distilled from
    config: dict = field(default_factory=dict)

    def build(self, seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = self.build_fn()
        return model.eval()

    def inputs(self, workload: Workload, seed: int = 0) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return self.inputs_fn(workload, gen)

    def closed_form_params(self) -> int:
        return int(self.params_fn())

    def closed_form_macs(self, workload: Workload) -> int:
        return int(self.macs_fn(workload))


def vit_init_weights(m: torch.nn.Module) -> None:
    """The original ViT/DeiT initialisation (trunc-normal linears, unit LayerNorms), which the
    official T2T-ViT and AutoFormer code apply with `model.apply`: seeded, it fixes every weight."""
    if isinstance(m, torch.nn.Linear):
        torch.nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)
    elif isinstance(m, torch.nn.LayerNorm):
        torch.nn.init.ones_(m.weight)
        torch.nn.init.zeros_(m.bias)


MODELS: Registry[ModelSpec] = Registry("model")
