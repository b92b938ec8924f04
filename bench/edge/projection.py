"""Projection of latency and energy onto a device from the roofline model and its spec.

latency >= FLOPs / min(peak, AI x bandwidth), with AI = FLOPs / (minimum bytes moved). The
minimum is the weights read once plus the inputs read and outputs written once: activations are
assumed to stay on chip. The result is the roofline's bound, reached at 100% of peak with no
framework, launch or cache-miss overhead, so real latency is higher; energy is the device's power
figure times that latency. Every record carries these assumptions in words, next to the numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.hardware import DeviceSpec


def attainable(ai: float, peak_flops: float, bandwidth: float) -> float:
    try:  # one roofline formula for the whole project, where the measurement work provides it
        from bench.measure.roofline import attainable as shared
    except ImportError:
        return min(peak_flops, ai * bandwidth)
    return shared(ai, peak_flops, bandwidth)


@dataclass
class Projection:
    projected_latency_ms: float
    projected_energy_j: float | None
    projected_bound: str  # "memory" | "compute"
    projected_arithmetic_intensity: float
    projected_attainable_flops_per_s: float
    projection_device: str
    projection_assumptions: str

    def fields(self) -> dict:
        return asdict(self)


def project(flops: float, bytes_moved: float, device: DeviceSpec, precision: str,
            power_w: float | None = None) -> Projection:
    if flops <= 0 or bytes_moved <= 0:
        raise ValueError(f"a projection needs positive FLOPs and bytes, got {flops} and {bytes_moved}")
    if precision not in device.peak_flops_per_s:
        raise ValueError(f"device {device.name} has no {precision} peak (it lists "
                         f"{', '.join(device.peak_flops_per_s)})")
    peak = device.peak_flops_per_s[precision]
    bw = device.mem_bandwidth_Bps
    ai = flops / bytes_moved
    rate = attainable(ai, peak, bw)
    latency_s = flops / rate
    bound = "compute" if rate >= peak else "memory"
    power = power_w if power_w is not None else device.tdp_w
    energy = power * latency_s if power is not None else None
    energy_note = (f"energy = {power:g} W (the device's power figure) x projected latency"
                   if power is not None else "energy not projected: the device spec has no power figure")
    text = (f"roofline bound on {device.name} ({device.extra.get('compute_unit', device.kind)}): "
            f"{flops:.4g} FLOP at {precision} peak {peak:.4g} FLOP/s, {bytes_moved:.4g} B at {bw:.4g} B/s "
            f"(AI {ai:.3g} FLOP/B, {bound}-bound); bytes = weights + inputs + outputs moved once, activations on "
            f"chip; 100% of peak, no framework or launch overhead, so real latency is higher; all FLOPs at "
            f"{precision}; {energy_note}")
    return Projection(projected_latency_ms=latency_s * 1e3, projected_energy_j=energy, projected_bound=bound,
                      projected_arithmetic_intensity=ai, projected_attainable_flops_per_s=rate,
                      projection_device=device.name, projection_assumptions=text)
