"""MACs and parameters of an ONNX graph, for models that arrive as an ONNX file.

The torch counter (bench.measure.flops) runs the module; an ONNX file has no module, so its
float graph is counted from shapes: the inputs are fixed to the workload, ONNX shape inference
gives every tensor's shape, and each matmul-like node contributes (output elements) x (reduced
dimension), the same formulas as the dispatch counter. Parameters are the initializers' elements
(constants of one element, such as scales and shape operands, are left out). A heavy node with
no formula (a fused Attention contrib op, say) is listed in `uncounted`, never silently zero.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

MATMULS = {"MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul"}
CONVS = {"Conv", "ConvInteger", "QLinearConv"}
HEAVY = re.compile(r"(mm|conv|attention|matmul|gemm|einsum)", re.I)


def _dims(vi) -> list[int] | None:
    shape = vi.type.tensor_type.shape
    dims = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    return None if any(d is None for d in dims) else dims


def count_onnx(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict:
    """{"macs", "params", "uncounted"} with the graph's inputs fixed to `shapes`."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in shapes:
            dims = inp.type.tensor_type.shape.dim
            for d, v in zip(dims, shapes[inp.name]):
                d.ClearField("dim_param")
                d.dim_value = int(v)
    try:  # ONNX Runtime's symbolic inference follows Shape -> Reshape chains that onnx's own cannot
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - an op it does not know: fall back, and list what stays unknown
        inferred = None
    inferred = inferred or onnx.shape_inference.infer_shapes(model)
    shape_of: dict[str, list[int] | None] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        shape_of[vi.name] = _dims(vi)
    for name, t in inits.items():
        shape_of[name] = list(t.dims)

    macs, uncounted = 0, set()
    for node in inferred.graph.node:
        op = node.op_type
        out = shape_of.get(node.output[0]) if node.output else None
        if op in MATMULS or op == "Gemm":
            a = shape_of.get(node.input[0])
            if out is None or not a:
                uncounted.add(op)
                continue
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if (op == "Gemm" and trans_a) else a[-1]
            macs += math.prod(out) * k
        elif op in CONVS:
            w = shape_of.get(node.input[1 if op != "QLinearConv" else 3])  # [Cout, Cin / groups, kh, kw]
            if out is None or not w:
                uncounted.add(op)
                continue
            macs += math.prod(out) * math.prod(w[1:])
        elif HEAVY.search(op):
            uncounted.add(op)
    # Weights live in initializers, or (after some exporters' folding) in Constant nodes; only
    # floating-point tensors of more than one element count, so shape operands and scales do not.
    tensors = [*inits.values(), *(a.t for n in model.graph.node if n.op_type == "Constant"
                                  for a in n.attribute if a.name == "value")]
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
    params = sum(math.prod(t.dims) for t in tensors if t.data_type in floats and t.dims and math.prod(t.dims) > 1)
    return {"macs": int(macs), "params": int(params), "uncounted": sorted(uncounted)}
