"""The work each profiled torch op did: the MAC counter's counts, charged to the op's row.

The profile says how long `aten::addmm` in `encoder.layer.0.attention.self.query` took; the
counter (bench.measure.flops.count_by_module) says how many MACs that op did in that module on
one forward pass of the same inputs. Their quotient is the op's achieved FLOP/s, and summed per
category, the category's point on the roofline. The counter sees ops after torch decomposes
them (`aten::linear` is `t` + `addmm` by then), so a count is charged to the row with the same op
name in the same layer, or failing that to the longest row of the same category in that layer;
the category sums include every count, whether a row took it or not.
"""

from __future__ import annotations

from bench.profile.table import estimate_flops
from bench.profile.taxonomy import base_name, torch_category


def torch_work(module, inputs: dict, rows: list[dict]) -> dict[str, dict]:
    """Count one forward pass of `module` per (module, op), charge the counts to `rows` (in place),
    and return FLOPs and bytes per category ({category: {flops, bytes, counted_flops}})."""
    from bench.measure.flops import count_by_module
    from bench.profile.torch_profile import is_compiled

    counted_module = module._orig_mod if is_compiled(module) else module
    device = next((p.device for p in counted_module.parameters()), None)
    feeds = {k: v.to(device) for k, v in inputs.items()} if device is not None else inputs
    counts = count_by_module(counted_module, feeds)

    ops = [r for r in rows if r["kind"] == "op"]
    by_name: dict[tuple, dict] = {}
    by_category: dict[tuple, dict] = {}
    for r in sorted(ops, key=lambda r: r["self_ms"]):  # the longest row wins a key
        layer = r["layer"] if r["layer"] is not None else ""
        by_name[(layer, base_name(r["name"]))] = r
        by_category[(layer, r["category"])] = r
    work: dict[str, dict] = {}
    for c in counts:
        category, _ = torch_category(c.op, c.module_type, c.module)
        flops, source = estimate_flops(category, c.out_elements, c.macs if c.counted else None)
        w = work.setdefault(category, {"flops": 0.0, "bytes": 0.0, "counted_flops": 0.0})
        w["flops"] += flops or 0.0
        w["bytes"] += c.bytes
        if source == "counted":
            w["counted_flops"] += flops
        row = by_name.get((c.module, c.op)) or by_category.get((c.module, category))
        if row is None:
            continue
        if c.counted:
            row["macs"] = (row["macs"] or 0) + c.macs
        if flops:
            row["flops"] = (row["flops"] or 0.0) + flops
            row["flops_source"] = "counted" if source == "counted" or row["flops_source"] == "counted" else source
        if c.bytes:
            row["bytes"] = (row["bytes"] or 0) + c.bytes
    return work
