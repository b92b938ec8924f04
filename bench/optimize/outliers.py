"""Activation outliers: their statistics, and Outlier Suppression+ channel shifting and scaling.

Trained transformers put a few channels of LayerNorm output far outside the rest, and
asymmetrically (Bondarenko et al., Quantizable Transformers, 2023; Wei et al., Outlier
Suppression+, 2023). A per-tensor int8 scale must then cover those channels, so every other
channel is left with a handful of levels: outliers, not weights, decide W8A8 fidelity.

`outlier-stats` records, for the input of every Linear layer, max |x|, the kurtosis of its values
and how far its largest channel sits above the median channel, so a record shows why its int8
fidelity is what it is.

`os-plus` moves the problem out of the activations. For a LayerNorm whose output X feeds a
Linear (Pre-LN blocks: norm1 -> qkv, norm2 -> fc1), each channel j is shifted by z_j (the centre
of its range) and divided by s_j >= 1:

    X' = (X - z) / s            folded into the LayerNorm: gamma' = gamma / s, beta' = (beta - z) / s
    W X + b = (W diag(s)) X' + (W z + b)   folded into the Linear: W' = W diag(s), b' = b + W z

so the fp32 function is unchanged (to rounding) while X' has a narrow, symmetric range. The
scales come from a search over a clipping threshold t (s_j = max(1, max|X_j - z_j| / t)) that
minimises the fake-quantized W8A8 output error of the Linear on calibration batches, as in OS+.
Post-LN blocks (BERT) feed the LayerNorm output to the residual branch too, where the shift
would not cancel, so `os-plus` declares the Pre-LN (ViT) family only.
"""

from __future__ import annotations

import math

import torch

from bench.optimize.base import Artifact, Context
from bench.optimize.quant_static import calibration_inputs
from bench.optimize.specs.outliers import OsPlusParams, StatsParams


class _Moments:
    """Streaming statistics of one layer's input over several batches."""

    def __init__(self):
        self.n = 0
        self.s1 = self.s2 = self.s3 = self.s4 = 0.0
        self.max_abs = 0.0
        self.chan_absmax: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        x = x.detach().double().reshape(-1, x.shape[-1])
        self.n += x.numel()
        self.s1 += float(x.sum())
        self.s2 += float((x**2).sum())
        self.s3 += float((x**3).sum())
        self.s4 += float((x**4).sum())
        cam = x.abs().amax(0)
        self.chan_absmax = cam if self.chan_absmax is None else torch.maximum(self.chan_absmax, cam)
        self.max_abs = max(self.max_abs, float(cam.max()))

    def summary(self) -> dict:
        m = self.s1 / self.n
        var = self.s2 / self.n - m * m
        # Fourth central moment from raw moments; Pearson kurtosis (3 for a Gaussian).
        m4 = self.s4 / self.n - 4 * m * self.s3 / self.n + 6 * m * m * self.s2 / self.n - 3 * m**4
        kurt = m4 / (var * var) if var > 0 else math.nan
        med = float(self.chan_absmax.median())
        return {"max_abs": self.max_abs, "kurtosis": kurt,
                "top_channel_over_median": self.max_abs / med if med > 0 else math.inf}



def _run_and_unhook(module, batches, hooks) -> None:
    """Feed the calibration batches through the hooked model, then always remove the hooks."""
    try:
        with torch.inference_mode():
            for b in batches:
                module(**b)
    finally:
        for h in hooks:
            h.remove()

def linear_input_stats(module: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> list[dict]:
    """Per-Linear input statistics (max |x|, kurtosis, largest/median channel) over the batches."""
    moments: dict[str, _Moments] = {}
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, torch.nn.Linear):
            moments[name] = _Moments()
            hooks.append(m.register_forward_pre_hook(lambda mod, args, _n=name: moments[_n].add(args[0])))
    _run_and_unhook(module, batches, hooks)
    return [{"layer": name, **mo.summary()} for name, mo in moments.items() if mo.n]


def stats_record(stats: list[dict], prefix: str = "outlier") -> dict:
    kurt = sorted(s["kurtosis"] for s in stats)
    return {f"{prefix}_stats": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
                                for s in stats],
            f"{prefix}_max_abs": max(s["max_abs"] for s in stats),
            f"{prefix}_kurtosis_max": kurt[-1], f"{prefix}_kurtosis_median": kurt[len(kurt) // 2]}


def outlier_stats(artifact: Artifact, params: StatsParams, ctx: Context) -> Artifact:
    stats = linear_input_stats(artifact.module, calibration_inputs(ctx, params.batches))
    return artifact.evolve(record={**artifact.record, **stats_record(stats)})


# --- Outlier Suppression+ ------------------------------------------------------------------------


def prenorm_pairs(module: torch.nn.Module) -> list[tuple[str, torch.nn.LayerNorm, torch.nn.Linear]]:
    """(name, LayerNorm, the Linear it alone feeds) in timm Pre-LN blocks: norm1 -> attn.qkv, norm2 -> mlp.fc1."""
    pairs = []
    for name, m in module.named_modules():
        norm1, attn = getattr(m, "norm1", None), getattr(m, "attn", None)
        norm2, mlp = getattr(m, "norm2", None), getattr(m, "mlp", None)
        if isinstance(norm1, torch.nn.LayerNorm) and isinstance(getattr(attn, "qkv", None), torch.nn.Linear):
            pairs.append((f"{name}.norm1", norm1, attn.qkv))
        if isinstance(norm2, torch.nn.LayerNorm) and isinstance(getattr(mlp, "fc1", None), torch.nn.Linear):
            pairs.append((f"{name}.norm2", norm2, mlp.fc1))
    return pairs


def _fake_quant_act(x: torch.Tensor) -> torch.Tensor:
    """Per-tensor asymmetric uint8, min-max: what ORT's static QDQ does to an activation."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / 255 or 1.0
    zp = round(-lo / scale)
    return (torch.clamp(torch.round(x / scale) + zp, 0, 255) - zp) * scale


def _fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8."""
    scale = (w.abs().amax(1, keepdim=True) / 127).clamp_min(1e-12)
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def search_shift_scale(x: torch.Tensor, weight: torch.Tensor, grid: int, scale: bool, shift: bool,
                       max_out: int = 256, gen: torch.Generator | None = None):
    """OS+: shift z = channel range centre; scale s from the threshold t minimising the W8A8 output error.

    The error is measured on up to `max_out` output channels: weights are quantized per output
    channel, so a random subset estimates the full error without bias, at a fraction of the cost.
    """
    x = x.reshape(-1, x.shape[-1]).float()
    w = weight.detach().float()
    if w.shape[0] > max_out:
        w = w[torch.randperm(w.shape[0], generator=gen)[:max_out]]
    ref = x @ w.T
    power = float((ref**2).mean()) or 1.0

    def rel_err(xs: torch.Tensor, s: torch.Tensor) -> float:
        """W8A8 output error of this Linear relative to its output power, with x' = xs / s, W' = W s."""
        return float(((_fake_quant_act(xs / s) @ _fake_quant_weight(w * s).T - ref) ** 2).mean()) / power

    ones = torch.ones(x.shape[-1], dtype=x.dtype)
    before = rel_err(x, ones)
    z = (x.amax(0) + x.amin(0)) / 2 if shift else torch.zeros_like(ones)
    xs = x - z
    ref = xs @ w.T  # the folded bias carries W z, so the shifted product is what must be matched
    best, best_s = rel_err(xs, ones), ones
    if scale:
        absmax = xs.abs().amax(0)
        top = float(absmax.max())
        for r in torch.linspace(1.0 / grid, 1.0, grid).tolist():
            s = torch.clamp(absmax / (top * r), min=1.0)
            err = rel_err(xs, s)
            if err < best:
                best, best_s = err, s
    return z.double(), best_s.double(), before, best


@torch.no_grad()
def fold(norm: torch.nn.LayerNorm, linear: torch.nn.Linear, z: torch.Tensor, s: torch.Tensor) -> None:
    """Fold X' = (X - z) / s into the LayerNorm and X = s X' + z into the Linear, in float64 then cast."""
    gamma = norm.weight.double()
    beta = norm.bias.double() if norm.bias is not None else torch.zeros_like(gamma)
    w = linear.weight.double()
    b = linear.bias.double() if linear.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
    if norm.bias is None:
        norm.bias = torch.nn.Parameter(torch.zeros_like(norm.weight))
    if linear.bias is None:
        linear.bias = torch.nn.Parameter(torch.zeros(w.shape[0], dtype=linear.weight.dtype))
    norm.weight.copy_(gamma / s)
    norm.bias.copy_((beta - z) / s)
    linear.bias.copy_(b + w @ z)
    linear.weight.copy_(w * s)


def os_plus(artifact: Artifact, params: OsPlusParams, ctx: Context) -> Artifact:
    module = artifact.module
    pairs = prenorm_pairs(module)
    if not pairs:
        raise RuntimeError("os-plus found no Pre-LN LayerNorm -> Linear pair (timm norm1/attn.qkv, norm2/mlp.fc1)")
    batches = calibration_inputs(ctx, params.calib_batches)
    before = linear_input_stats(module, batches[:1])
    captured: dict[str, list[torch.Tensor]] = {name: [] for name, _, _ in pairs}
    hooks = [norm.register_forward_hook(lambda m, a, out, _n=name: captured[_n].append(out.detach().clone()))
             for name, norm, _ in pairs]
    # One pass collects every LayerNorm's output. Folding a block changes nothing downstream (it is
    # exact), so the activations from the unfolded model are the ones each fold sees.
    _run_and_unhook(module, batches, hooks)
    gen = torch.Generator().manual_seed(ctx.seed)
    errors: list[tuple[float, float]] = []
    for name, norm, linear in pairs:
        x = torch.cat([t.reshape(-1, t.shape[-1]) for t in captured[name]])
        if x.shape[0] > params.max_rows:
            x = x[torch.randperm(x.shape[0], generator=gen)[: params.max_rows]]
        z, s, err_before, err_after = search_shift_scale(x, linear.weight, params.grid, params.scale, params.shift,
                                                         gen=gen)
        errors.append((err_before, err_after))
        fold(norm, linear, z, s)
    after = linear_input_stats(module, batches[:1])
    targets = {id(lin) for _, _, lin in pairs}
    names = {n for n, m in module.named_modules() if id(m) in targets}
    rec = {"os_plus_pairs": len(pairs),
           "os_plus_max_abs_before": max(s["max_abs"] for s in before if s["layer"] in names),
           "os_plus_max_abs_after": max(s["max_abs"] for s in after if s["layer"] in names),
           # Mean over the folded Linears of the fake-quantized W8A8 output error / output power.
           "os_plus_w8a8_rel_err_before": sum(e[0] for e in errors) / len(errors),
           "os_plus_w8a8_rel_err_after": sum(e[1] for e in errors) / len(errors)}
    return artifact.evolve(module=module, notes=[*artifact.notes, f"os-plus({params.model_dump_json()})"],
                           record={**artifact.record, **rec})
