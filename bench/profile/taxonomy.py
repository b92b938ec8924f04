"""One operator taxonomy for torch and ONNX Runtime, so that two runtimes' profiles subtract.

torch names an operator `aten::addmm` or `quantized::linear_dynamic`, ONNX Runtime a node type
`MatMulIntegerToFloat`, a GPU a kernel `sm90_xmma_gemm_...`; a speedup can only be attributed if
all of them land in the same few categories. The tables below say where each known name goes
(docs/profiling.md prints them). Three rules make the attribution honest rather than literal:

- Context first. An op inside a leaf module whose type says what it is (an `nn.Linear`, a
  `LayerNorm`, a `GELUActivation`) belongs to that module's category: the `aten::t` and the bias
  `aten::copy_` under a Linear are part of the linear layer's cost, not "data movement".
- Matmuls without a weight are attention scores where the layer is an attention layer: Q·Kᵀ and
  P·V are attention, the Q/K/V projections (which carry weights) are linear.
- Quantize/dequantize stays itself wherever it runs: that is the overhead an int8 optimization adds.

A name the tables do not know is matched against patterns (fused kernels: `cpp_fused_..._layer_norm`),
and otherwise goes to "other" and is listed by name in the record; nothing is dropped.
"""

from __future__ import annotations

import re

LINEAR, ATTENTION, CONV, NORM, ACTIVATION = "linear", "attention", "convolution", "normalization", "activation"
ELEMENTWISE, QUANT, DATA, OTHER = "elementwise", "quantize", "data_movement", "other"
CATEGORIES = (LINEAR, ATTENTION, CONV, NORM, ACTIVATION, ELEMENTWISE, QUANT, DATA, OTHER)
LABELS = {LINEAR: "linear/matmul", ATTENTION: "attention", CONV: "convolution", NORM: "normalization",
          ACTIVATION: "activation", ELEMENTWISE: "elementwise", QUANT: "quantize/dequantize",
          DATA: "data movement", OTHER: "other"}

# torch operators by base name (the part after "aten::", "quantized::", ...).
TORCH_OPS: dict[str, str] = {
    **dict.fromkeys(["linear", "addmm", "mm", "matmul", "bmm", "baddbmm", "addbmm", "einsum", "mv", "dot",
                     "_addmm_activation", "_int_mm", "_weight_int8pack_mm", "_weight_int4pack_mm", "mkldnn_linear",
                     "linear_dynamic", "linear_dynamic_fp16", "linear_relu_dynamic", "linear_prepack",
                     "_linear_pointwise", "_scaled_mm", "fbgemm_linear_int8_weight", "tensordot"], LINEAR),
    **dict.fromkeys(["scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                     "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_attention_math",
                     "_flash_attention_forward", "_efficient_attention_forward", "_native_multi_head_attention",
                     "softmax", "_softmax", "_safe_softmax", "multi_head_attention_forward"], ATTENTION),
    **dict.fromkeys(["conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d",
                     "conv_transpose2d", "mkldnn_convolution", "_nnpack_spatial_convolution", "thnn_conv2d",
                     "_slow_conv2d_forward", "_conv_depthwise2d", "cudnn_convolution", "conv2d_relu",
                     "conv2d_prepack"], CONV),
    **dict.fromkeys(["layer_norm", "native_layer_norm", "batch_norm", "native_batch_norm", "_batch_norm_impl_index",
                     "_native_batch_norm_legit_no_training", "group_norm", "native_group_norm", "instance_norm",
                     "rms_norm", "_fused_rms_norm", "cudnn_batch_norm", "_batch_norm_with_update",
                     "layer_norm_out"], NORM),
    **dict.fromkeys(["gelu", "relu", "relu_", "relu6", "silu", "silu_", "sigmoid", "tanh", "hardswish", "hardswish_",
                     "hardsigmoid", "leaky_relu", "elu", "softplus", "mish", "erf", "hardtanh", "hardtanh_",
                     "glu", "prelu", "log_softmax", "_log_softmax"], ACTIVATION),
    **dict.fromkeys(["add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "pow", "sqrt", "rsqrt",
                     "exp", "log", "neg", "abs", "clamp", "clamp_", "clamp_min", "clamp_max", "where", "masked_fill",
                     "masked_fill_", "eq", "ne", "gt", "lt", "ge", "le", "logical_not", "logical_and",
                     "bitwise_not", "bitwise_and", "mean", "sum", "amax", "max", "min", "maximum", "minimum",
                     "reciprocal", "square", "cumsum", "dropout", "feature_dropout", "isnan", "any", "all",
                     "tanh_", "floor", "ceil", "round", "sign", "addcmul", "lerp", "fill_", "zero_", "var",
                     "std", "norm", "linalg_vector_norm", "argmax", "topk", "sort"], ELEMENTWISE),
    **dict.fromkeys(["quantize_per_tensor", "quantize_per_tensor_dynamic", "quantize_per_channel", "dequantize",
                     "_choose_qparams_per_tensor", "choose_qparams", "choose_qparams_per_token_asymmetric",
                     "choose_qparams_affine", "quantize_affine", "dequantize_affine", "q_scale", "q_zero_point",
                     "int_repr", "_make_per_tensor_quantized_tensor", "_make_per_channel_quantized_tensor",
                     "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine",
                     "dequantize_per_tensor", "dequantize_per_channel", "quantize_per_token",
                     "dequantize_per_token"], QUANT),
    **dict.fromkeys(["view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "contiguous",
                     "clone", "copy_", "_to_copy", "to", "cat", "concat", "stack", "split", "split_with_sizes",
                     "chunk", "slice", "select", "index", "index_select", "gather", "embedding", "embedding_bag",
                     "embedding_byte", "embedding_4bit", "squeeze", "unsqueeze", "expand", "expand_as", "flatten",
                     "unflatten", "narrow", "as_strided", "detach", "alias", "repeat", "repeat_interleave", "roll",
                     "pad", "constant_pad_nd", "unbind", "movedim", "view_as", "type_as", "unfold", "tile",
                     "index_put_", "scatter", "scatter_", "lift_fresh", "_index_put_impl_", "pixel_shuffle",
                     "flip", "adaptive_avg_pool2d", "avg_pool2d", "max_pool2d", "max_pool2d_with_indices",
                     "_adaptive_avg_pool2d", "upsample_nearest2d", "upsample_bilinear2d"], DATA),
}
# Pooling and resizing move and reduce data; they are listed with data movement, as the issue's
# taxonomy has no pooling class.

# ONNX Runtime node types (ONNX, the com.microsoft contrib domain, ORT's fusions).
ORT_OPS: dict[str, str] = {
    **dict.fromkeys(["MatMul", "Gemm", "FusedMatMul", "FusedGemm", "MatMulInteger", "MatMulIntegerToFloat",
                     "DynamicQuantizeMatMul", "QLinearMatMul", "MatMulNBits", "QGemm", "MatMulFpQ4",
                     "MatMulBnb4", "GemmFastGelu", "FusedMatMulActivation", "QOrderedMatMul", "Einsum"], LINEAR),
    **dict.fromkeys(["Attention", "MultiHeadAttention", "QAttention", "Softmax", "GroupQueryAttention",
                     "DecoderAttention", "DecoderMaskedMultiHeadAttention", "PackedAttention",
                     "PackedMultiHeadAttention", "SparseAttention", "LongformerAttention", "QOrderedAttention",
                     "RotaryEmbedding", "QLinearSoftmax"], ATTENTION),
    **dict.fromkeys(["Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv", "ConvTranspose", "NhwcFusedConv"],
                    CONV),
    **dict.fromkeys(["LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
                     "SkipSimplifiedLayerNormalization", "BatchNormalization", "InstanceNormalization",
                     "GroupNorm", "GroupNormalization", "RMSNormalization", "EmbedLayerNormalization",
                     "LpNormalization", "MeanVarianceNormalization", "QEmbedLayerNormalization",
                     "SkipGroupNorm"], NORM),
    **dict.fromkeys(["Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Relu", "Sigmoid", "Tanh", "Erf", "HardSigmoid",
                     "HardSwish", "LeakyRelu", "Elu", "Selu", "Softplus", "Mish", "Swish", "BiasSoftmax",
                     "QLinearSigmoid", "QLinearLeakyRelu", "PRelu", "LogSoftmax", "Celu", "ThresholdedRelu",
                     "BiasSplitGelu"], ACTIVATION),
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Where",
                     "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor",
                     "IsNaN", "IsInf", "Min", "Max", "Clip", "Cast", "ReduceMean", "ReduceSum", "ReduceMax",
                     "ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare", "Sum", "Mean", "Floor", "Ceil",
                     "Round", "Sign", "Mod", "CumSum", "BiasAdd", "BiasDropout", "Dropout", "ArgMax", "ArgMin",
                     "TopK", "QLinearAdd", "QLinearMul", "QLinearReduceMean", "BitwiseAnd", "BitwiseNot",
                     "QLinearGlobalAveragePool", "Trilu"], ELEMENTWISE),
    **dict.fromkeys(["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearQuantize",
                     "DynamicQuantizeLSTM", "QuantizeBFP", "DequantizeBFP", "QOrderedQuantize",
                     "QOrderedDequantize"], QUANT),
    **dict.fromkeys(["Reshape", "Transpose", "Concat", "Gather", "GatherElements", "GatherND", "Slice", "Split",
                     "Squeeze", "Unsqueeze", "Expand", "Flatten", "Identity", "Shape", "Size", "Tile", "Pad",
                     "MemcpyToHost", "MemcpyFromHost", "ScatterND", "ScatterElements", "DepthToSpace",
                     "SpaceToDepth", "Resize", "Upsample", "MaxPool", "AveragePool", "GlobalAveragePool",
                     "GlobalMaxPool", "QLinearConcat", "QLinearAveragePool", "NhwcMaxPool", "Compress",
                     "ReverseSequence", "GatherBlockQuantized"], DATA),
}

# Patterns for names the tables do not hold: GPU kernels (cuBLAS, cuDNN, flash attention, ATen's
# elementwise kernels) and compiled fused regions (`cpp_fused_...`, `triton_...`). Order matters:
# a fused "add + layer_norm" kernel is normalization, an implicit-GEMM convolution is convolution.
PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p, re.I), c) for p, c in [
    (r"quantiz|dequant|qparams|int8_quant|_qdq", QUANT),
    (r"flash|fmha|attention|attn|softmax|sdpa|_mha", ATTENTION),
    (r"conv|winograd|implicit_gemm|cudnn", CONV),
    (r"gemm|gemv|cublas|cutlass|xmma|nvjet|matmul|addmm|_mm|bmm|mma_|linear", LINEAR),
    (r"layer_?norm|batch_?norm|group_?norm|rms_?norm|instance_?norm|welford", NORM),
    (r"gelu|relu|silu|sigmoid|tanh|swish|mish|elu", ACTIVATION),
    (r"memcpy|memset|copy|transpose|permute|catarray|concat|gather|index|scatter|embedding|reshape|"
     r"contiguous|pad|clone", DATA),
    (r"elementwise|vectorized|reduce|add|mul|div|sub|where|fill|pow|sqrt|exp", ELEMENTWISE),
]]

# Leaf module types whose ops all belong to one category (torch; matched on the class name).
MODULE_TYPES: list[tuple[re.Pattern, str]] = [(re.compile(p), c) for p, c in [
    (r"^(Conv[123]d|ConvTranspose[123]d|QuantizedConv.*|ConvReLU[123]d)$", CONV),
    (r"(Linear|^Conv1D)$", LINEAR),  # nn.Linear, dynamic-int8 Linear, NonDynamicallyQuantizableLinear, GPT-2's Conv1D
    (r"Norm([123]d)?$", NORM),  # LayerNorm, BatchNorm2d, GroupNorm, LlamaRMSNorm, T5LayerNorm
    (r"(Activation|^GELU|^ReLU6?|^SiLU|^Sigmoid|^Tanh|^Hardswish|^Hardsigmoid|^LeakyReLU|^ELU|^Mish|^Softplus|"
     r"^GELUTanh)$", ACTIVATION),
    (r"^Softmax$", ATTENTION),
    (r"^(Embedding|EmbeddingBag)$", DATA),  # a lookup: a gather of rows
    (r"^Dropout", ELEMENTWISE),
]]

ATTENTION_LAYER = re.compile(r"(^|[./])(attention|attn|self_attn|crossattention|selfattention|encdecattention|mha|sdpa)([./]|$)", re.I)
# The attention module itself (BERT's `attention.self`, timm's `attn`), not one of its projections.
ATTENTION_CORE = re.compile(r"(^|[./])((attention|attn|self_attn|crossattention|selfattention|encdecattention|mha|sdpa)"
                            r"|attention[./]self)$", re.I)
MATMUL_OPS = {"matmul", "bmm", "baddbmm", "mm", "einsum", "MatMul", "FusedMatMul", "Einsum", "MatMulInteger",
              "MatMulIntegerToFloat", "QLinearMatMul"}


def base_name(op: str) -> str:
    """`aten::addmm.out` -> `addmm`; ORT node types and kernels come through unchanged."""
    name = op.rsplit("::", 1)[-1]
    return name.split(".", 1)[0] if "::" in op else name


def by_pattern(name: str) -> str | None:
    for pattern, category in PATTERNS:
        if pattern.search(name):
            return category
    return None


def module_category(module_type: str | None) -> str | None:
    if not module_type:
        return None
    for pattern, category in MODULE_TYPES:
        if pattern.search(module_type):
            return category
    return None


def is_attention_layer(layer: str | None) -> bool:
    return bool(layer) and bool(ATTENTION_LAYER.search(layer))


def is_attention_core(layer: str | None) -> bool:
    """The attention module's own ops (scaling, masking, softmax), which a fused SDPA kernel holds
    in one op and an exported graph spells out node by node: attention either way."""
    return bool(layer) and bool(ATTENTION_CORE.search(layer))


def torch_category(op: str, module_type: str | None = None, layer: str | None = None) -> tuple[str, str]:
    """(category, how) for a torch operator running inside `layer`, a module of type `module_type`.

    `how` says which rule decided: table, context (the module's type or an attention layer),
    pattern, or unknown (category "other")."""
    name = base_name(op)
    own = TORCH_OPS.get(name)
    if own == QUANT:
        return QUANT, "table"
    by_module = module_category(module_type)
    if by_module is not None:
        return by_module, "context"
    if name in MATMUL_OPS and is_attention_layer(layer):
        return ATTENTION, "context"  # a matmul with no Linear around it: attention scores or P·V
    if own == ELEMENTWISE and is_attention_core(layer):
        return ATTENTION, "context"  # scaling and masking the scores
    if own is not None:
        return own, "table"
    guess = by_pattern(name)
    return (guess, "pattern") if guess else (OTHER, "unknown")


def ort_category(op_type: str, layer: str | None = None, has_weights: bool | None = None) -> tuple[str, str]:
    """(category, how) for an ONNX Runtime node of type `op_type` in `layer` (from its name);
    `has_weights` is whether a matmul's second operand is a weight matrix (2-D) rather than a
    batch of activations (attention's K or V)."""
    if op_type in MATMUL_OPS and has_weights is False and is_attention_layer(layer):
        return ATTENTION, "context"
    own = ORT_OPS.get(op_type)
    if own == ELEMENTWISE and is_attention_core(layer):
        return ATTENTION, "context"
    if own is not None:
        return own, "table"
    guess = by_pattern(op_type)
    return (guess, "pattern") if guess else (OTHER, "unknown")


def kernel_category(name: str) -> tuple[str, str]:
    """A GPU kernel with no launching operator to inherit from: by its name's pattern."""
    guess = by_pattern(name)
    return (guess, "pattern") if guess else (OTHER, "unknown")


def ort_layer(node_name: str) -> str | None:
    """The model layer an ONNX node came from, in torch's module notation.

    torch's exporter names nodes by the module path: `/encoder/layer.0/attention/self/query/MatMul`;
    ORT's fusions append their own part (`.../MatMul/MatMulScaleFusion/`). The layer is the path
    without the node's own name and those suffixes; a name with no path (an ORT-made node) has none.
    """
    parts = [p for p in node_name.split("/") if p]
    while parts and "Fusion" in parts[-1]:
        parts.pop()
    if len(parts) < 2 or not node_name.startswith("/"):
        return None
    return ".".join(parts[:-1])
