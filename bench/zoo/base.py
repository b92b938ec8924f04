"""What a model in the zoo declares: how to build it, its inputs, and its closed-form cost.

Every model is built from an architecture config with seeded random weights, so runs need no
network and are reproducible. The closed-form parameter and MAC counts exist to cross-check
the graph counters: if they disagree, one of them is wrong and the test suite says so.

A spec is plan-time data: this module and the spec modules (bench/zoo/specs/) import no torch,
so checking a suite answers in well under a second. The builder is named by a "module:function"
string (or given as a callable) and imported only when a cell builds the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.registry import Registry, load

if TYPE_CHECKING:
    import torch


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
    """One item's inputs where the batch is that item repeated in cost, and the batch size it
    stands for (MAC counting and the ONNX export use it); the modality decides when that is exact."""
    from bench.modality import modality_of

    return modality_of(model_spec).per_item(workload, inputs)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "bert", "vit", ...: optimizations declare the families they apply to
    modality: str  # "text", "vision" or "decoder": bench.modality owns what differs between them
    # The builder: "module:function" (imported when a cell builds the model) or a callable; it is
    # called with `build_args` as keyword arguments and returns an nn.Module.
    build_fn: str | Callable[..., torch.nn.Module] | None
    # Closed forms cross-check the counters; a model brought by the user has none (None), and
    # its record says so (`cost_source`).
    params_fn: Callable[[], int] | None
    macs_fn: Callable[[Workload], int] | None
    build_args: dict[str, Any] = field(default_factory=dict)
    # Inputs for a workload: None takes the modality's (random token ids below `vocab`, or random
    # images); a model with other inputs names its own `(workload, generator) -> dict` here.
    inputs_fn: str | Callable[[Workload, torch.Generator], dict[str, torch.Tensor]] | None = None
    vocab: int | None = None
    default_size: int = 128
    description: str = ""
    teacher: str | None = None  # distilled models name the model they were distilled from
    config: dict = field(default_factory=dict)
    # What the model starts as: "torch" (built by build_fn) or "onnx" (the file at onnx_path).
    artifact_kind: str = "torch"
    onnx_path: str | None = None
    # Where the weights came from (bench.zoo.user): kind, source, revision, sha256. None for the
    # zoo's seeded random weights.
    weights: dict[str, Any] | None = None
    # A user model's declaration, resolved: enough for a cell process to register the same spec.
    declaration: dict[str, Any] | None = None

    def build(self, seed: int = 0) -> torch.nn.Module:
        """The model in eval mode, its random weights fixed by `seed`."""
        import torch

        torch.manual_seed(seed)
        return self.construct().eval()

    def construct(self) -> torch.nn.Module:
        """The builder's module as it returns it, from the global generator's current state (a
        variant that builds on another model calls this inside its own seeded build)."""
        build = load(self.build_fn) if isinstance(self.build_fn, str) else self.build_fn
        return build(**self.build_args)

    def inputs(self, workload: Workload, seed: int = 0) -> dict[str, torch.Tensor]:
        import torch

        gen = torch.Generator().manual_seed(seed)
        if self.inputs_fn is not None:
            make = load(self.inputs_fn) if isinstance(self.inputs_fn, str) else self.inputs_fn
            return make(workload, gen)
        from bench.modality import modality_of

        return modality_of(self).inputs(self, workload, gen)

    @property
    def cost_source(self) -> str:
        """Where the closed-form params/MACs come from: a formula, the paper, or nowhere."""
        if self.params_fn is None:
            return "none"
        return "published" if self.config.get("cost_source") == "published" else "closed-form"

    def closed_form_params(self) -> int | None:
        return None if self.params_fn is None else int(self.params_fn())

    def closed_form_macs(self, workload: Workload) -> int | None:
        return None if self.macs_fn is None else int(self.macs_fn(workload))


def vit_init_weights(m: torch.nn.Module) -> None:
    """The original ViT/DeiT initialisation (trunc-normal linears, unit LayerNorms), which the
    official T2T-ViT and AutoFormer code apply with `model.apply`: seeded, it fixes every weight."""
    import torch

    if isinstance(m, torch.nn.Linear):
        torch.nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)
    elif isinstance(m, torch.nn.LayerNorm):
        torch.nn.init.ones_(m.weight)
        torch.nn.init.zeros_(m.bias)


MODELS: Registry[ModelSpec] = Registry("model")
