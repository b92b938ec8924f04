"""Attention: which SDPA kernel runs, and two drop-in replacements for softmax attention.

- `sdpa-math`, `sdpa-flash`, `sdpa-efficient`, `sdpa-cudnn` pin torch's
  scaled_dot_product_attention to one backend. Which exist depends on the device, and each step
  declares it: the math (reference) kernel and the flash kernel exist on CPU and CUDA; the
  memory-efficient (xFormers-derived) and cuDNN kernels are CUDA-only, so a CPU cell is skipped
  at plan time. The result is the same attention up to rounding order.
- `linear-attention` replaces softmax(QK^T/sqrt(d))V by phi(Q)(phi(K)^T V) / phi(Q)(phi(K)^T 1) with
  phi = elu + 1 (Katharopoulos et al., 2020). It is an approximation: a different kernel, not a
  faster way to compute the same one. Both outputs are convex combinations of the rows of V, so
  per channel each lies between that channel's min and max over V, and that is the only bound
  there is without retraining. Cost is linear in sequence length: 2 N d per head and token, plus
  the normaliser, instead of 2 N^2 d.
- `windowed-attention(window=w)` lets token i attend to tokens j with |i - j| <= w. It runs as
  dense SDPA with a band mask, so it measures the fidelity of local attention, not its speed
  (the masked kernel does the full N^2 work); with w >= N - 1 no mask is built and it is the
  unmodified computation, exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.optimize import arch
from bench.optimize.base import Artifact, Context
from bench.optimize.specs.attention import SDPA_BACKENDS, WindowParams

# name: (SDPBackend, devices, paper), the kernel resolved from the name its spec declares.
BACKENDS = {name: (getattr(SDPBackend, kernel), devices, paper)
            for name, (kernel, devices, paper) in SDPA_BACKENDS.items()}


class PinnedBackend(nn.Module):
    """Runs the wrapped model with SDPA restricted to one backend (an error if it cannot run)."""

    def __init__(self, module: nn.Module, backend: SDPBackend):
        super().__init__()
        self.module, self.backend = module, backend

    def forward(self, *args, **inputs):  # positional too: a decoder step is module(input_ids, kv_cache)
        with sdpa_kernel([self.backend]):
            return self.module(*args, **inputs)


def _pinned(name: str):
    """The apply function of `sdpa-<name>`: one per backend, since a spec names its function."""
    backend = BACKENDS[name][0]

    def apply(artifact: Artifact, params, ctx: Context) -> Artifact:
        return artifact.evolve(module=PinnedBackend(artifact.module, backend),
                               notes=[*artifact.notes, f"sdpa-{name}"])

    return apply


sdpa_math = _pinned("math")
sdpa_flash = _pinned("flash")
sdpa_efficient = _pinned("efficient")
sdpa_cudnn = _pinned("cudnn")


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """elu+1 linear attention over [B, H, N, d]; `mask` is a bool key mask [B, 1, 1, N] or None."""
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    if mask is not None:
        fk = fk * mask[:, :, 0, :, None].to(fk.dtype)
    kv = torch.einsum("bhnd,bhne->bhde", fk, v)
    z = fk.sum(2)  # [B, H, d]
    num = torch.einsum("bhnd,bhde->bhne", fq, kv)
    den = torch.einsum("bhnd,bhd->bhn", fq, z)
    return num / den[..., None]


def linear_attention_quadratic(q, k, v, mask=None):
    """The same kernel computed the N x N way; tests check the linear form against it."""
    w = (F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2)
    if mask is not None:
        w = w * mask.to(w.dtype)
    return (w / w.sum(-1, keepdim=True)) @ v


def linear_attention_opt(artifact: Artifact, params, ctx: Context) -> Artifact:
    return artifact.evolve(module=arch.FunctionalEncoder(artifact.module, linear_attention),
                           notes=[*artifact.notes, "linear-attention"])


def linear_attention_closed_form(spec, workload) -> tuple[int, int]:
    """(params, MACs): QK^T and AV (2 N^2 a) become phi(K)^T V and phi(Q) KV (2 N d a) plus the normaliser (N a)."""
    h, heads, f, n = arch.model_dims(spec)
    tokens = arch.tokens_of(workload)
    params, macs = arch.closed_form(spec, workload, [arch.LayerShape(h, h, f, tokens)] * n)
    d = h // heads
    per_layer = 2 * tokens * d * h + tokens * h - 2 * tokens * tokens * h
    return params, macs + workload.batch_size * n * per_layer


def band_mask(n: int, window: int, device=None) -> torch.Tensor:
    i = torch.arange(n, device=device)
    return (i[:, None] - i[None, :]).abs() <= window


def windowed(window: int):
    def attend(q, k, v, mask):
        n = q.shape[-2]
        if window >= n - 1:
            return arch.sdpa(q, k, v, mask)
        band = band_mask(n, window, q.device)[None, None]
        return arch.sdpa(q, k, v, band if mask is None else band & mask)

    return attend


def windowed_attention(artifact: Artifact, params: WindowParams, ctx: Context) -> Artifact:
    return artifact.evolve(module=arch.FunctionalEncoder(artifact.module, windowed(params.window)),
                           notes=[*artifact.notes, f"windowed-attention({params.window})"])
