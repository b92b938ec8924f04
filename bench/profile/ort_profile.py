"""ONNX Runtime's own session profiling, on a second session: never the one that was timed.

ORT turns profiling on when a session is created (`SessionOptions.enable_profiling`), so the timed
session cannot be profiled after the fact, and profiling it from the start would put the
profiler's per-node bookkeeping inside the timed samples. The profiled pass therefore opens a
second session on the same model file with the same options, threads and providers, runs one
warm-up call and a few profiled ones, and reads the JSON that `end_profiling()` writes: one
event per node and run, with the node's type, its provider and its input and output shapes.

Each node's MACs come from those shapes by the ONNX counter's formulas (bench.measure.onnx_flops:
output elements x the reduced dimension), so a fused node ORT made at load time
(`DynamicQuantizeMatMul`, `FusedMatMul`) is counted as what it runs, not as the file's nodes.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from bench.profile.table import estimate_flops
from bench.profile.taxonomy import ort_category, ort_layer

KERNEL_SUFFIX = "_kernel_time"
MATMUL_LIKE = {"MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "Gemm", "FusedGemm", "QGemm",
               "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "MatMulNBits", "GemmFastGelu", "MatMulFpQ4"}
CONV_WEIGHT_INPUT = {"Conv": 1, "ConvInteger": 1, "FusedConv": 1, "NhwcFusedConv": 1, "QLinearConv": 3}
DTYPE_BYTES = {"float": 4, "float16": 2, "bfloat16": 2, "double": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
               "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "float8e4m3fn": 1, "float8e5m2": 1}


def _shapes(arg) -> list[tuple[str, list[int]]]:
    """ORT's `input_type_shape` / `output_type_shape`: [{"float": [1, 128, 768]}, ...]."""
    out = []
    for item in arg or []:
        if isinstance(item, dict):
            for dtype, shape in item.items():
                out.append((str(dtype), [int(d) for d in shape] if isinstance(shape, list) else []))
    return out


def node_macs(op_type: str, inputs: list, outputs: list) -> int | None:
    """Multiply-accumulates of one node run, from its shapes; None where no formula applies."""
    if not outputs:
        return None
    out = outputs[0][1]
    try:
        if op_type in MATMUL_LIKE and inputs and inputs[0][1]:
            return math.prod(out) * inputs[0][1][-1]
        if op_type in CONV_WEIGHT_INPUT and len(inputs) > CONV_WEIGHT_INPUT[op_type]:
            w = inputs[CONV_WEIGHT_INPUT[op_type]][1]
            return math.prod(out) * math.prod(w[1:]) if len(w) > 2 else None
        if op_type in ("Attention", "QAttention") and len(inputs) >= 2 and len(inputs[0][1]) == 3:
            b, s, h_in = inputs[0][1]
            qkv = inputs[1][1][-1]  # the packed Q, K, V projection: [hidden_in, 3 x hidden]
            return b * s * h_in * qkv + 2 * b * s * s * (qkv // 3)
        if op_type == "MultiHeadAttention" and len(inputs) >= 2 and len(inputs[1][1]) == 3:
            b, s, h = inputs[0][1]
            return 2 * b * s * inputs[1][1][1] * h
    except (IndexError, ValueError, TypeError):
        return None
    return None


WEIGHT_BYTES = {"MatMulInteger": 1, "MatMulIntegerToFloat": 1, "DynamicQuantizeMatMul": 1, "QLinearMatMul": 1,
                "QGemm": 1, "MatMulNBits": 0.5}  # per weight element; 4-bit for MatMulNBits' default


def packed_weight_bytes(op_type: str, inputs: list, outputs: list) -> int:
    """The weight a matmul read though its shape is not in the profile: ORT pre-packs constant
    weights when it loads the model and drops them from the node's inputs. K x N elements, in the
    weight's type; without them the linear layers' bytes (most of a small batch's traffic) vanish."""
    if op_type not in MATMUL_LIKE or len(inputs) != 1 or not outputs or not inputs[0][1] or not outputs[0][1]:
        return 0
    per = WEIGHT_BYTES.get(op_type, DTYPE_BYTES.get(inputs[0][0], 4))
    return int(inputs[0][1][-1] * outputs[0][1][-1] * per)


def _nbytes(shapes: list) -> int:
    return sum(math.prod(s) * DTYPE_BYTES.get(d, 4) for d, s in shapes)


def rows_from_trace(events: list[dict], calls: int) -> list[dict]:
    """Profile rows (bench.profile.table), per inference, from the node events of the last `calls` runs."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[-calls:]
    if len(runs) < calls:
        raise ValueError(f"the ORT profile holds {len(runs)} runs, not the {calls} profiled")
    windows = [(r["ts"], r["ts"] + r["dur"]) for r in runs]
    acc: dict[str, dict] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        if not any(lo <= e["ts"] <= hi for lo, hi in windows):
            continue  # the warm-up run (first-call allocations)
        args = e.get("args") or {}
        name = e["name"][: -len(KERNEL_SUFFIX)]
        r = acc.get(name)
        if r is None:
            op_type = str(args.get("op_name", "?"))
            layer = ort_layer(name)
            ins, outs = _shapes(args.get("input_type_shape")), _shapes(args.get("output_type_shape"))
            # A weight is a 2-D matrix, or absent from the shapes (ORT pre-packed it at load time
            # and released the input); attention's K and V come as batches of heads.
            weights = (len(ins) < 2 or len(ins[1][1]) <= 2) if ins else None
            category, how = ort_category(op_type, layer, weights)
            macs = node_macs(op_type, ins, outs)
            flops, source = estimate_flops(category, sum(math.prod(s) for _, s in outs), macs)
            r = acc[name] = {"name": name, "op_type": op_type, "kind": "node", "category": category, "how": how,
                             "layer": layer, "parent": None, "provider": args.get("provider"), "calls": 0.0,
                             "self_ms": 0.0, "total_ms": 0.0, "macs": macs, "flops": flops, "flops_source": source,
                             "bytes": _nbytes(ins) + _nbytes(outs) + packed_weight_bytes(op_type, ins, outs) or None}
        r["calls"] += 1 / calls
        r["self_ms"] += float(e["dur"]) / 1e3 / calls
    for r in acc.values():  # a node's work is per run: what one run does, times its runs per inference
        r["total_ms"] = r["self_ms"]
        for k in ("macs", "flops", "bytes"):
            if r[k] is not None:
                r[k] = r[k] * round(r["calls"], 6)
    return list(acc.values())


def profile_ort(artifact, target, inputs: dict, calls: int, trace_path: Path, scratch: Path) -> tuple[list[dict], dict]:
    """The profiled pass on a second session of `artifact`'s model file; writes the Chrome trace."""
    import onnxruntime as ort

    from bench.runtime.ort import _cuda_session, open_session, session_options
    from bench.runtime.providers import provider_chain
    from bench.runtime.specs import OrtOptions

    opts = session_options(ort, target.threads)
    level = artifact.runtime_hints.get("ort_graph_optimization_level")
    if level is not None:
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(scratch) / "ort-profile")
    sess = open_session(ort, artifact.onnx_path, opts, provider_chain(target))
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v.numpy() for k, v in inputs.items() if k in names}
    sync = None
    if target.device == "cuda":  # inputs bound on the device, as the timed session does
        s = _cuda_session(ort, sess, feeds, OrtOptions(**target.options).copies, {})
        call, sync = s.call, s.sync
    else:
        def call():
            return sess.run(None, feeds)
    walls = []
    for i in range(calls + 1):
        t = time.perf_counter()
        call()
        if sync is not None:
            sync()
        if i:  # the first run pays for allocations: profiled, but left out of the rows
            walls.append(time.perf_counter() - t)
    raw = Path(sess.end_profiling())
    try:
        events = json.loads(raw.read_text())
    finally:
        raw.unlink(missing_ok=True)
    rows = rows_from_trace(events, calls)
    for e in events:  # per-node thread-pool statistics: half the file, and not what a trace is opened for
        (e.get("args") or {}).pop("thread_scheduling_stats", None)
    trace_path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms",
                                      "otherData": {"profiler": f"onnxruntime {ort.__version__}",
                                                    "note": "the first model_run is the warm-up run; "
                                                            "thread_scheduling_stats left out"}}))
    meta = {"profiler": f"onnxruntime {ort.__version__} session profiling", "calls": calls,
            "call_ms": 1e3 * sum(walls) / len(walls), "layers": any(r["layer"] for r in rows), "basis": "node",
            "providers": sess.get_providers()}
    return rows, meta
