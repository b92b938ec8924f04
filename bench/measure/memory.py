"""Process memory: peak resident set size, split into the build phase and the inference phase.

Linux keeps a high-water mark (VmHWM) that `/proc/self/clear_refs` can reset, so the inference
peak is measured on its own rather than hidden under the build peak.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset the high-water mark; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def reset_cuda_peaks(cuda=None) -> None:
    """Start the allocator's high-water marks afresh, so the peak is inference's, not the build's."""
    if cuda is None:
        import torch

        cuda = torch.cuda
    cuda.synchronize()
    cuda.reset_peak_memory_stats()


def cuda_peaks(cuda=None) -> dict:
    """The caching allocator's peaks since the last reset. `cuda` is torch.cuda or a fake."""
    if cuda is None:
        import torch

        cuda = torch.cuda
    return {"cuda_peak_allocated_bytes": int(cuda.max_memory_allocated()),
            "cuda_peak_reserved_bytes": int(cuda.max_memory_reserved())}


def activation_bytes_estimate(module, inputs: dict) -> int:
    """Bytes of every tensor the model's leaf modules output in one forward pass, from the shapes.

    This is the activation traffic of one inference, and an upper bound on the activation memory
    an inference needs at once (an inference engine frees each activation after its last use;
    the largest single layer output is the lower bound). Functional ops between modules
    (attention score matmuls in an SDPA call) are not leaf modules and are not counted.
    """
    import torch

    total = 0

    def hook(_mod, _inp, out):
        nonlocal total
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()

    param = next(module.parameters(), None)
    if param is not None:  # a runtime may have moved the module to its device
        inputs = {k: v.to(param.device) for k, v in inputs.items()}
    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            module(**inputs)
    finally:
        for h in handles:
            h.remove()
    return int(total)
