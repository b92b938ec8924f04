"""ONNX Runtime with an execution provider. A torch artifact is exported to ONNX implicitly.

A target names its provider (`provider: cuda | tensorrt | xnnpack | cpu`, or ORT's full name);
the default follows the device. On CUDA the inputs are copied to the GPU once, when the session
is bound, and bound with I/O binding; outputs stay on the GPU. The timed call is then the model
alone, as with torch tensors already on the device. `options: {copies: timed}` times the
host->device and device->host copies on purpose instead (a plain `run` with host arrays), and
the record says which in `host_device_copies`.

ORT silently falls back to the CPU provider when a GPU provider fails to load (a missing cuDNN,
say); binding refuses that, so a CPU number is never labelled as a GPU one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.runtime.base import Session
from bench.runtime.providers import (  # noqa: F401  (PROVIDERS, provider_name: imported from here too)
    GPU_PROVIDERS,
    PROVIDERS,
    provider_chain,
    provider_name,
    provider_problem,
)
from bench.runtime.specs import OrtOptions


def _import_ort():
    import onnxruntime

    return onnxruntime


def session_options(ort, threads: int):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


def preload_cuda_libraries(ort) -> str:
    """Load the CUDA and cuDNN libraries ORT's CUDA provider needs, before its first session.

    onnxruntime-gpu (1.21 and later) finds them in the `nvidia-*` pip packages, which its
    `[cuda,cudnn]` extra installs for the CUDA major it was built for; without this the provider
    finds only what torch happened to load, and fails to load when torch was built for another
    CUDA major. Returns what happened, for the record.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return "not available in this onnxruntime"
    try:
        preload()
    except Exception as e:  # a failed preload is reported; the session may still find the libraries
        return f"failed: {type(e).__name__}: {e}"
    return "done"


def cuda_versions(ort) -> str:
    """The CUDA versions ORT was built for and torch was built for: a mismatch explains a provider
    that will not load."""
    ort_cuda = getattr(ort, "cuda_version", None)  # "" in a CPU build; "13.0" and the like in onnxruntime-gpu
    try:
        import torch

        torch_cuda = torch.version.cuda
    except Exception:
        torch_cuda = None
    return f"onnxruntime {getattr(ort, '__version__', '?')} built for CUDA {ort_cuda or '?'}, torch for CUDA {torch_cuda or '?'}"


def open_session(ort, path, opts, providers: list, provider_options: list[dict] | None = None):
    """An InferenceSession that really runs on `providers[0]`, or a RuntimeError saying why not."""
    kwargs = {"provider_options": provider_options} if provider_options else {}
    sess = ort.InferenceSession(str(path), opts, providers=providers, **kwargs)
    got = sess.get_providers()
    if providers[0] not in got:
        why = (f"; {cuda_versions(ort)} (their CUDA majors must match, or install onnxruntime-gpu[cuda,cudnn])"
               if providers[0] in GPU_PROVIDERS else "")
        raise RuntimeError(f"ONNX Runtime did not enable {providers[0]} (session providers: {', '.join(got)}); "
                           f"it fell back rather than fail: check the provider's libraries and the ORT log{why}")
    return sess


def bind_ort(artifact, target, inputs, ort=None) -> Session:
    ort = ort or _import_ort()
    options = OrtOptions(**target.options)
    opts = session_options(ort, target.threads)
    if not options.spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    level = artifact.runtime_hints.get("ort_graph_optimization_level")
    if level is not None:  # set by the ort-optimize step; ORT's default is "all"
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    why = provider_problem(target, ort.get_available_providers())
    if why:
        raise RuntimeError(why)
    preloaded = preload_cuda_libraries(ort) if target.device == "cuda" else None
    sess = open_session(ort, artifact.onnx_path, opts, provider_chain(target))
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v.numpy() for k, v in inputs.items() if k in names}
    info = {"threads": target.threads, "providers": sess.get_providers(), "spinning": options.spinning,
            "graph_optimization_level": str(getattr(opts, "graph_optimization_level", "default"))}
    if preloaded is not None:
        info["cuda_libraries_preloaded"] = preloaded
    predict = predictor(sess)
    if target.device == "cuda":
        return replace(_cuda_session(ort, sess, feeds, options.copies, info), predict=predict)

    def call():
        return sess.run(None, feeds)[0]

    return Session(call=call, output=lambda y: np.asarray(y, dtype=np.float32), info=info, predict=predict,
                   annotate=lambda record: {"host_device_copies": "none", "io_binding": False})


def predictor(sess):
    """Untimed inference on other inputs (evaluation): host arrays in and out, on the session's providers."""
    names = {i.name for i in sess.get_inputs()}

    def predict(batch: dict) -> np.ndarray:
        return np.asarray(sess.run(None, {k: v.numpy() for k, v in batch.items() if k in names})[0], dtype=np.float32)

    return predict


def _cuda_session(ort, sess, feeds: dict[str, np.ndarray], copies: str, info: dict, device_id: int = 0) -> Session:
    labels = {"host_device_copies": copies, "io_binding": copies == "excluded"}
    info = {**info, **labels}
    if copies == "timed":
        def call_timed():
            return sess.run(None, feeds)[0]  # host arrays in, host array out: both copies inside the call

        return Session(call=call_timed, output=lambda y: np.asarray(y, dtype=np.float32), info=info,
                       annotate=lambda record: dict(labels))

    binding = sess.io_binding()
    device_inputs = {}
    for name, arr in feeds.items():  # the only host->device copy, outside the timed region
        device_inputs[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr), "cuda", device_id)
        binding.bind_ortvalue_input(name, device_inputs[name])
    for out in sess.get_outputs():
        binding.bind_output(out.name, "cuda", device_id)

    def call(_keep=device_inputs):  # the closure keeps the bound device buffers alive
        sess.run_with_iobinding(binding)
        return binding

    def output(b):  # device->host, for fidelity only: never timed
        return np.asarray(b.copy_outputs_to_cpu()[0], dtype=np.float32)

    return Session(call=call, output=output, sync=binding.synchronize_outputs, info=info, cuda_events=False,
                   annotate=lambda record: dict(labels))
