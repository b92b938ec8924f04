"""Attention: which SDPA kernel runs, and two drop-in replacements for softmax attention.

Which SDPA kernels exist depends on the device; declaring it lets a CPU cell of a CUDA-only
kernel be skipped at plan time rather than fail at run time.
"""

from pydantic import BaseModel, ConfigDict, Field

from bench.optimize.base import OPTIMIZATIONS, OptimizationSpec

FLASH = "Dao et al., FlashAttention (NeurIPS 2022); survey Sec. VIII (hardware-level optimization)"
MEM_EFF = "Rabe & Staats, Self-attention Does Not Need O(n^2) Memory (arXiv:2112.05682, 2021)"
KATHAROPOULOS = "Katharopoulos et al., Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention (ICML 2020)"
LONGFORMER = "Beltagy et al., Longformer: The Long-Document Transformer (arXiv:2004.05150, 2020): sliding-window attention"

# name: (torch.nn.attention.SDPBackend member, devices it exists on, paper)
SDPA_BACKENDS = {
    "math": ("MATH", ("cpu", "cuda"), "Vaswani et al., Attention Is All You Need (NeurIPS 2017)"),
    "flash": ("FLASH_ATTENTION", ("cpu", "cuda"), FLASH),
    "efficient": ("EFFICIENT_ATTENTION", ("cuda",), MEM_EFF),
    "cudnn": ("CUDNN_ATTENTION", ("cuda",), "NVIDIA cuDNN fused attention (cuDNN 9 frontend)"),
}


class WindowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(default=16, ge=0)  # token i sees tokens j with |i - j| <= window


for _name, (_, _devices, _paper) in SDPA_BACKENDS.items():
    OPTIMIZATIONS.add(OptimizationSpec(
        f"sdpa-{_name}", f"bench.optimize.attention:sdpa_{_name}", devices=_devices, exportable=False,
        paper=_paper,
        description=f"Pin scaled_dot_product_attention to the {_name} backend (exists on {', '.join(_devices)})."))
OPTIMIZATIONS.add(OptimizationSpec(
    "linear-attention", "bench.optimize.attention:linear_attention_opt", families=("bert", "vit"),
    changes_shapes=True, changes_numerics=True, paper=KATHAROPOULOS,
    description="Softmax attention replaced by elu+1 linear attention (an approximation, "
                "linear in sequence length)."))
OPTIMIZATIONS.add(OptimizationSpec(
    "windowed-attention", "bench.optimize.attention:windowed_attention", params=WindowParams,
    families=("bert", "vit"), changes_numerics=True, paper=LONGFORMER,
    description="Sliding-window attention (|i-j| <= window) via a masked dense kernel: fidelity "
                "of local attention, not its speed; exact when the window covers the sequence."))
