"""ONNX Runtime under an edge profile: local emulation, plus a projection onto the profile's board.

`{runtime: onnxruntime-edge, options: {profile: rpi5}}` runs the ONNX model on this host's CPU
with the profile's thread count (the planner sets it; more threads than the profile allows is a
suite error), refuses a precision the profile does not allow and a model larger than its memory
budget, and records the session's footprint against that budget. The record says `emulated: true`:
the latency is this host's. The projection onto the board (`projected_*`) comes from the roofline
model; see bench/edge/projection.py. `provider: xnnpack` selects XNNPACK where the ORT build has it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.edge.profiles import get_profile, precision_family
from bench.runtime.base import Session
from bench.runtime.ort import _import_ort, open_session, predictor, session_options
from bench.runtime.providers import edge_provider_problem, provider_chain
from bench.runtime.specs import EdgeOptions


def model_bytes(path) -> int:
    p = Path(path)
    return p.stat().st_size + sum(f.stat().st_size for f in p.parent.glob(p.name + ".data"))


def edge_fields(record: dict, profile, input_bytes: int, output_bytes: int, rss_at_bind: int) -> dict:
    """The emulation labels, the memory check and the projection, from a cell's finished record."""
    from bench.edge.projection import project
    from bench.hardware import get_device

    fields: dict = {"emulated": True, "edge_profile": profile.name, "edge_device": profile.device,
                    "edge_memory_budget_bytes": profile.memory_budget_bytes}
    peak = record.get("peak_rss_infer_bytes")
    if peak is not None:
        # RSS growth from opening the session to the inference peak: ORT's weights, arena and activations.
        used = max(0, int(peak) - rss_at_bind)
        fields["edge_memory_bytes"] = used
        fields["edge_memory_within_budget"] = used <= profile.memory_budget_bytes
    flops, weights = record.get("flops"), record.get("weight_bytes")
    if not flops or not weights:
        fields.update(projected_latency_ms=None, projected_energy_j=None,
                      projection_assumptions="not projected: the cell has no FLOP count or weight size")
        return fields
    precision = precision_family(record.get("precision") or "fp32")
    proj = project(float(flops), float(weights + input_bytes + output_bytes), get_device(profile.device), precision)
    fields.update(proj.fields())
    return fields


def bind_edge(artifact, target, inputs, ort=None) -> Session:
    from bench.measure.memory import current_rss_bytes

    ort = ort or _import_ort()
    profile = get_profile(EdgeOptions(**target.options).profile)
    precision = precision_family(artifact.precision)
    if precision not in profile.precisions:
        raise RuntimeError(f"edge profile {profile.name} allows {', '.join(profile.precisions)}; "
                           f"this chain produces {artifact.precision}")
    size = model_bytes(artifact.onnx_path)
    if size > profile.memory_budget_bytes:
        raise RuntimeError(f"the model's weights ({size / 2**20:.0f} MiB) exceed edge profile {profile.name}'s "
                           f"memory budget ({profile.memory_budget_bytes / 2**20:.0f} MiB)")
    if target.threads > profile.threads:
        raise RuntimeError(f"{target.threads} threads exceed the {profile.threads} that {profile.name} allows")
    why = edge_provider_problem(target, ort.get_available_providers())
    if why:
        raise RuntimeError(why)
    providers = provider_chain(target)
    if providers[0] == "XnnpackExecutionProvider":
        # XNNPACK has its own thread pool; ORT's is kept to one thread so the two do not compete.
        opts = session_options(ort, 1)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        provider_options = [{"intra_op_num_threads": str(target.threads)}, {}]
    else:
        opts = session_options(ort, target.threads)
        provider_options = None
    rss_at_bind = current_rss_bytes()
    sess = open_session(ort, artifact.onnx_path, opts, providers, provider_options)
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v.numpy() for k, v in inputs.items() if k in names}
    input_bytes = sum(a.nbytes for a in feeds.values())
    seen = {"output_bytes": 0}

    def call():
        return sess.run(None, feeds)[0]

    def output(y):  # called once, untimed, for fidelity; the projection needs the output's size
        arr = np.asarray(y)
        seen["output_bytes"] = int(arr.nbytes)
        return arr.astype(np.float32, copy=False)

    ort_threads = sess.get_session_options().intra_op_num_threads
    info = {"threads": target.threads, "providers": sess.get_providers(), "edge_profile": profile.name,
            "ort_intra_op_num_threads": ort_threads, "provider_options": provider_options or []}
    return Session(call=call, output=output, info=info, predict=predictor(sess),
                   annotate=lambda record: edge_fields(record, profile, input_bytes, seen["output_bytes"],
                                                       rss_at_bind))
