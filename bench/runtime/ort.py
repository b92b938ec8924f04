"""ONNX Runtime with an execution provider. A torch artifact is exported to ONNX implicitly."""

from __future__ import annotations

import numpy as np

from bench.runtime.base import RUNTIMES, RuntimeSpec, Session

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def bind_ort(artifact, target, inputs) -> Session:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = target.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    level = artifact.runtime_hints.get("ort_graph_optimization_level")
    if level is not None:  # set by the ort-optimize step; ORT's default is "all"
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    provider = target.provider or PROVIDERS[target.device]
    if provider not in ort.get_available_providers():
        raise RuntimeError(f"ONNX Runtime provider {provider} is not available in this build")
    sess = ort.InferenceSession(str(artifact.onnx_path), opts, providers=[provider])
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v.numpy() for k, v in inputs.items() if k in names}

    def call():
        return sess.run(None, feeds)[0]

    return Session(call=call, output=lambda y: np.asarray(y, dtype=np.float32),
                   info={"threads": target.threads, "providers": sess.get_providers(),
                         "graph_optimization_level": str(opts.graph_optimization_level)})


RUNTIMES.add(RuntimeSpec("onnxruntime", accepts="onnx", devices=("cpu", "cuda"), bind=bind_ort, description="ONNX Runtime"))
