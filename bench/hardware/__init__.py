"""Device specifications as data: every `*.yaml` file in this folder is a list of devices.

Schema of one entry (units in the names; every figure needs a source):

    - name: nvidia-h100-sxm            # unique
      kind: gpu                        # cpu | gpu | edge
      description: NVIDIA H100 SXM5 80GB
      peak_flops_per_s: {fp32: 6.7e13, tf32: 4.95e14, fp16: 9.89e14, bf16: 9.89e14, int8: 1.979e15, fp8: 1.979e15}
      mem_bandwidth_Bps: 3.35e12
      tdp_w: 700
      memory_bytes: 8.0e10
      sources: ["NVIDIA H100 datasheet (dense figures, no sparsity)"]
      notes: "..."                     # optional

Peak figures are dense (no structured-sparsity doubling) unless the entry says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from bench.errors import UserError

HERE = Path(__file__).parent


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    kind: str
    description: str
    peak_flops_per_s: dict[str, float]
    mem_bandwidth_Bps: float
    tdp_w: float | None = None
    memory_bytes: float | None = None
    sources: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)


@cache
def load_devices() -> dict[str, DeviceSpec]:
    devices: dict[str, DeviceSpec] = {}
    for path in sorted(HERE.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text()) or []:
            known = {k: raw[k] for k in DeviceSpec.__dataclass_fields__ if k in raw and k != "extra"}
            known["peak_flops_per_s"] = {k: float(v) for k, v in raw["peak_flops_per_s"].items()}
            # float() everywhere: PyYAML reads "8.0e9" (no exponent sign) as a string.
            for key in ("mem_bandwidth_Bps", "tdp_w", "memory_bytes"):
                if raw.get(key) is not None:
                    known[key] = float(raw[key])
            known["sources"] = tuple(raw.get("sources", ()))
            extra = {k: v for k, v in raw.items() if k not in DeviceSpec.__dataclass_fields__}
            spec = DeviceSpec(**known, extra=extra)
            if spec.name in devices:
                raise ValueError(f"device {spec.name!r} defined twice ({path.name})")
            if not spec.sources:
                raise ValueError(f"device {spec.name!r} in {path.name} has no source")
            devices[spec.name] = spec
    return devices


def get_device(name: str) -> DeviceSpec:
    devices = load_devices()
    if name not in devices:
        import difflib

        close = difflib.get_close_matches(name, devices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown device {name!r}.{hint} Known: {', '.join(sorted(devices))}.")
    return devices[name]
