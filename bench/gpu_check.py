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


def devices(torch) -> list[str]:
    return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]


def main(which=shutil.which, torch=None) -> int:
    problem = driver_problem(which) or torch_problem(torch)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if torch is None:
        import torch
    print("GPU check passed: " + ", ".join(devices(torch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
