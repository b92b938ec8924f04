"""Whether this machine can run the GPU suite, and if not, why, in a sentence a user can act on.

`nox -s bench-gpu` calls `driver_problem` before it installs anything and `python -m
bench.gpu_check` once torch is installed, so a CPU-only machine stops at once with a clear
message (exit status 2) instead of failing cell by cell. Only the standard library is imported
at module level: the noxfile imports this from nox's own interpreter.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable


def driver_problem(which: Callable[[str], str | None] = shutil.which) -> str:
    if which("nvidia-smi") is None:
        return ("bench-gpu needs an NVIDIA GPU with its driver (nvidia-smi was not found). "
                "Run `nox -s bench-cpu` on this machine instead.")
    return ""


def torch_problem(torch=None) -> str:
    if torch is None:
        import torch
    if torch.cuda.is_available():
        return ""
    build = getattr(torch.version, "cuda", None)
    if not build:
        return (f"torch {torch.__version__} is a CPU-only build: install a CUDA build of torch that matches "
                "the driver (see docs/gpu.md), then run `nox -s bench-gpu` again.")
    return (f"torch {torch.__version__} was built for CUDA {build} but sees no CUDA device: check the driver "
            "with nvidia-smi (it must support CUDA {build} or later) and CUDA_VISIBLE_DEVICES.").replace(
                "{build}", str(build))


def ort_problem(ort=None) -> tuple[str, str]:
    """(error, warning) about ONNX Runtime: an install that cannot load is an error, a build without
    the CUDA provider a warning (its cells are skipped at plan time and the torch cells still run).

    onnxruntime and onnxruntime-gpu install into one `onnxruntime/` folder: removing one after
    installing the other deletes files the other needs, and leaves a package without its API.
    """
    if ort is None:
        try:
            import onnxruntime as ort
        except Exception as e:  # an ImportError, or whatever a half-deleted package raises
            return (f"onnxruntime does not import ({type(e).__name__}: {e}). Reinstall it: "
                    "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"), ""
    if not hasattr(ort, "get_available_providers"):
        return ("onnxruntime is installed without its API, the mark of onnxruntime and onnxruntime-gpu "
                "overwriting each other. Reinstall it: "
                "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"), ""
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return "", (f"onnxruntime {getattr(ort, '__version__', '?')} has no CUDA provider ({', '.join(providers)}): "
                    "the ORT CUDA cells will be skipped; install onnxruntime-gpu for them.")
    return "", ""


def devices(torch) -> list[str]:
    return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]


def main(which=shutil.which, torch=None, ort=None) -> int:
    problem = driver_problem(which) or torch_problem(torch)
    ort_error, ort_warning = ("", "") if problem else ort_problem(ort)
    if problem or ort_error:
        print(f"error: {problem or ort_error}", file=sys.stderr)
        return 2
    if ort_warning:
        print(f"warning: {ort_warning}", file=sys.stderr)
    if torch is None:
        import torch
    print("GPU check passed: " + ", ".join(devices(torch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
