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


# Quantized kernels the module-scoped counter also counts (a dynamic-int8 Linear does the float
# Linear's multiply-accumulates). Kept out of FORMULAS: `count_macs` counts the float graph, and
# its results must not change when a quantized module passes through it.
QUANTIZED_FORMULAS = {}
for _name in ("linear_dynamic", "linear_dynamic_fp16", "linear_relu_dynamic", "linear"):
    _op = getattr(getattr(torch.ops, "quantized", None), _name, None)
    if _op is not None:
        QUANTIZED_FORMULAS[_op] = lambda args, out: _prod(args[0].shape) * int(
            (out[0] if isinstance(out, (tuple, list)) else out).shape[-1])


@dataclass
class OpCount:
    """One operator in one module, over one forward pass: what a profile row's MACs come from."""

    module: str  # the innermost module running, by its name in `named_modules()` ("" for the model itself)
    module_type: str
    op: str  # the aten (or quantized) op's name, e.g. "addmm"
    calls: int = 0
    macs: int = 0
    out_elements: int = 0  # output elements: what an elementwise op's work scales with
    bytes: int = 0  # inputs and outputs, each once (0 for views, which move nothing)
    counted: bool = False  # the op has a MAC formula


def _nbytes(x) -> int:
    if isinstance(x, torch.Tensor):
        try:
            return int(x.numel() * x.element_size())
        except (RuntimeError, NotImplementedError):  # a packed or opaque tensor subclass
            return 0
    if isinstance(x, (list, tuple)):
        return sum(_nbytes(v) for v in x)
    return 0


def _numel(x) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.numel())
    if isinstance(x, (list, tuple)):
        return sum(_numel(v) for v in x)
    return 0


class _ModuleCounter(TorchDispatchMode):
    """Every op the forward pass dispatches, tagged with the module that was running it."""

    def __init__(self, where):
        super().__init__()
        self.where = where  # () -> (module name, module type)
        self.ops: dict[tuple[str, str], OpCount] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        formula = FORMULAS.get(packet) or QUANTIZED_FORMULAS.get(packet)
        module, module_type = self.where()
        rec = self.ops.setdefault((module, packet.__name__), OpCount(module, module_type, packet.__name__))
        rec.calls += 1
        if formula is not None:
            rec.macs += formula(args, out)
            rec.counted = True
        rec.out_elements += _numel(out[0] if isinstance(out, (tuple, list)) and out else out)  # not the saved stats
        if not getattr(func, "is_view", False):
            rec.bytes += sum(_nbytes(a) for a in args) + sum(_nbytes(v) for v in (kwargs or {}).values()) + _nbytes(out)
        if packet in QUANTIZED_FORMULAS and len(args) > 1 and not isinstance(args[1], torch.Tensor):
            # The weight is packed into an opaque object: K x N elements of int8 (fp16 for the fp16 variant).
            y = out[0] if isinstance(out, (tuple, list)) else out
            rec.bytes += int(args[0].shape[-1]) * int(y.shape[-1]) * (2 if "fp16" in packet.__name__ else 1)
        return out


def count_by_module(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> list[OpCount]:
    """One forward pass, counted per (module, op): MACs where a formula applies, output elements
    and bytes for every op. Forward hooks keep a stack of the modules running, so each op is
    charged to the innermost one (its layer, in a profile)."""
    names = {id(m): n for n, m in model.named_modules()}
    stack: list[tuple[str, str]] = []

    def leave(mod, args, out) -> None:  # a forward hook that returns something replaces the output
        if stack:
            stack.pop()

    def enter(entry):
        def hook(mod, args) -> None:
            stack.append(entry)
        return hook

    handles = []
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(enter((names.get(id(m), ""), type(m).__name__))))
        handles.append(m.register_forward_hook(leave))
    counter = _ModuleCounter(lambda: stack[-1] if stack else ("", type(model).__name__))
    try:
        with torch.no_grad(), counter:
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    return list(counter.ops.values())


def count_params(model: torch.nn.Module) -> int:
    """Unique parameters: ALBERT's shared layers count once, as in the papers."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
