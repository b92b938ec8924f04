"""Decoder-only language models (GPT-2, OPT, a Llama-architecture model) from transformers configs.

Generation has two phases with different costs, so a decoder declares both: the prefill of a
P-token prompt (compute-bound, P tokens at once) and one decode step at cache length t
(memory-bound: every weight is read for one token, and attention reads the whole KV cache).
The module's `forward(input_ids, cache=None)` is one such call and returns the logits of the
last position only, as generation does (`logits_to_keep=1`): the LM head runs on one row.
Without a cache it is the prefill, so the counted `macs` of a decoder cell are its prefill MACs.

GPT-2 in transformers uses `Conv1D` (y = x W + b with W stored [in, out]) instead of
`nn.Linear`; the builder converts every Conv1D into an equivalent `nn.Linear` (W transposed) so
that quantizers that look for `nn.Linear` (torch dynamic int8, weight-only int8/int4) apply to it.
"""

from __future__ import annotations

import inspect

import torch
import transformers as tf

from bench.zoo.specs.decoders import DECODERS, DecoderArch  # noqa: F401  (re-exported for the measurement code)


def conv1d_to_linear(module: torch.nn.Module) -> int:
    """Replace every transformers Conv1D by the equivalent nn.Linear, in place; returns how many."""
    from transformers.pytorch_utils import Conv1D

    n = 0
    for name, child in list(module.named_children()):
        if isinstance(child, Conv1D):
            nx, nf = child.weight.shape  # Conv1D stores [in, out]
            lin = torch.nn.Linear(nx, nf, bias=child.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(child.weight.t())
                if child.bias is not None:
                    lin.bias.copy_(child.bias)
            setattr(module, name, lin)
            n += 1
        else:
            n += conv1d_to_linear(child)
    return n


class CausalLM(torch.nn.Module):
    """Calls an HF causal LM with an optional KV cache and returns the last position's logits.

    The cache (a transformers DynamicCache) is updated in place by the call, so a decode loop
    passes the same object at every step; torch-module optimizations that swap submodules keep
    this wrapper and its signature.
    """

    def __init__(self, lm: torch.nn.Module):
        super().__init__()
        self.lm = lm
        params = inspect.signature(lm.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def forward(self, input_ids: torch.Tensor, cache=None) -> torch.Tensor:
        kwargs = {self._cache_kw: cache} if cache is not None else {}
        out = self.lm(input_ids=input_ids, use_cache=cache is not None, logits_to_keep=1, **kwargs)
        return out.logits[:, -1]


def new_cache():
    """An empty KV cache; the model fills it in place, one layer entry per decoder layer."""
    from transformers import DynamicCache

    return DynamicCache()


def gpt2(**cfg) -> torch.nn.Module:
    lm = tf.GPT2LMHeadModel(tf.GPT2Config(**cfg))
    conv1d_to_linear(lm)
    return CausalLM(lm)


def opt(**cfg) -> torch.nn.Module:
    return CausalLM(tf.OPTForCausalLM(tf.OPTConfig(**cfg)))


def llama(**cfg) -> torch.nn.Module:
    return CausalLM(tf.LlamaForCausalLM(tf.LlamaConfig(**cfg)))
