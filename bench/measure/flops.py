"""MAC counting that sees attention.

The stock counters miss `scaled_dot_product_attention` on CPU: fvcore lists it as unsupported and
torch's FlopCounterMode has no formula for the CPU flash kernel, so it counts 0. This counter runs
the model once under a TorchDispatchMode and applies a formula to every matmul, convolution and
fused-attention op it sees. Ops that look compute-heavy but have no formula are returned by name,
never silently counted as zero. MACs are the primary count; FLOPs are 2 x MACs by convention.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def _prod(xs) -> int:
    return int(math.prod(int(x) for x in xs))


def _mm(args, out):
    a, b = args[0], args[1]
    return _prod(a.shape) * int(b.shape[-1])


def _addmm(args, out):
    return _mm(args[1:], out)


def _bmm(args, out):
    a, b = args[0], args[1]
    return _prod(a.shape) * int(b.shape[-1])


def _baddbmm(args, out):
    return _bmm(args[1:], out)


def _conv(args, out):
    weight = args[1]
    y = out[0] if isinstance(out, (tuple, list)) else out
    # Each output element takes (in_channels / groups) * kernel_area MACs; weight is [Cout, Cin/g, k...].
    return _prod(y.shape) * _prod(weight.shape[1:])


def _sdpa_bhle(args, out):
    q, k, v = args[0], args[1], args[2]
    *batch, length, e = q.shape
    s, ev = k.shape[-2], v.shape[-1]
    return _prod(batch) * int(length) * int(s) * (int(e) + int(ev))


def _attn_blhe(args, out):
    # _flash_attention_forward / _efficient_attention_forward take [B, L, H, E].
    q, k, v = args[0], args[1], args[2]
    b, length, h, e = q.shape
    s, ev = k.shape[1], v.shape[-1]
    return int(b) * int(h) * int(length) * int(s) * (int(e) + int(ev))


FORMULAS = {
    aten.mm: _mm,
    aten.addmm: _addmm,
    aten.bmm: _bmm,
    aten.baddbmm: _baddbmm,
    aten.convolution: _conv,
    aten._convolution: _conv,
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_bhle,
    aten._scaled_dot_product_flash_attention: _sdpa_bhle,
    aten._scaled_dot_product_efficient_attention: _sdpa_bhle,
    aten._scaled_dot_product_cudnn_attention: _sdpa_bhle,
    aten._flash_attention_forward: _attn_blhe,
    aten._efficient_attention_forward: _attn_blhe,
}

# Ops that do real arithmetic work; seeing one without a formula means the count is incomplete.
HEAVY = re.compile(r"(mm|conv|attention|linear|matmul|einsum|_mha|gemm|dot)", re.I)


@dataclass
class MacCount:
    macs: int = 0
    by_op: Counter = field(default_factory=Counter)
    uncounted: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return 2 * self.macs


class _Counter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.result = MacCount()
        self._uncounted: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        formula = FORMULAS.get(packet)
        if formula is not None:
            macs = formula(args, out)
            self.result.macs += macs
            self.result.by_op[packet.__name__] += macs
        elif HEAVY.search(packet.__name__) and packet.__name__ not in ("dot_product_attention_mask",):
            self._uncounted.add(str(packet))
        return out


def count_macs(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> MacCount:
    """Run one forward pass and count its multiply-accumulates."""
    counter = _Counter()
    with torch.no_grad(), counter:
        model(**inputs)
    counter.result.uncounted = sorted(counter._uncounted)
    return counter.result


def count_params(model: torch.nn.Module) -> int:
    """Unique parameters: ALBERT's shared layers count once, as in the papers."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
