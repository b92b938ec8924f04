"""What differs between text encoders, vision models and decoders, in one object per modality.

A modality owns the workloads a suite's `workloads:` block expands to, the inputs a cell feeds,
how MACs are counted (one item scaled, or the whole batch), the fp32 reference, the fidelity
measures, the timed measurement and the unit energy is shared over. The planner and the cell
pipeline ask the model's modality instead of testing its name, so a new modality is one class
here and nothing else changes.

Imports are light at module level (the planner uses `workloads`); torch and the measurement
code are imported inside the methods that a cell process runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.registry import Registry
from bench.zoo.base import Workload

if TYPE_CHECKING:
    import numpy as np

    from bench.zoo.base import ModelSpec


@dataclass
class Reference:
    """The fp32 torch-eager result a cell is compared with; decoders add their greedy tokens."""

    output: np.ndarray
    tokens: np.ndarray | None = None


class Modality:
    name = ""
    item_unit = "item"  # what energy per item is per

    # --- plan time ----------------------------------------------------------------------------------
    def workloads(self, w, default_size: int) -> list[Workload]:
        raise NotImplementedError

    # --- cell time ----------------------------------------------------------------------------------
    def inputs(self, spec: ModelSpec, workload: Workload, gen) -> dict:
        raise NotImplementedError

    def per_item(self, workload: Workload, inputs: dict) -> tuple[dict, int]:
        """One item's inputs and the batch size it stands for, where counting one item and
        multiplying is exact (every item does the same work); otherwise the whole batch, 1."""
        return inputs, 1

    def static(self, spec: ModelSpec, module, ctx) -> dict:
        """Parameters and MACs counted on the graph that runs."""
        from bench.measure.flops import count_macs, count_params

        inputs, scale = self.per_item(ctx.workload, ctx.inputs)
        count = count_macs(module, inputs)
        return {"params": count_params(module), "macs": count.macs * scale, "flops": count.flops * scale,
                "uncounted_ops": count.uncounted, "macs_counted_batch": ctx.workload.batch_size // scale}

    def reference(self, spec: ModelSpec, workload: Workload, inputs: dict, cache: Path, seed: int,
                  fresh=None) -> Reference:
        """fp32 torch-eager output on CPU, computed once per run for each model and workload
        (`fresh`: the model as just built, to spare building it twice)."""
        from bench.fsio import cached_npy

        def compute():
            if spec.artifact_kind == "onnx":  # the file as it came, on ONNX Runtime's CPU provider
                return onnx_reference(spec.onnx_path, inputs)
            import torch

            module = fresh if fresh is not None else spec.build(seed)
            with torch.inference_mode():
                return module(**inputs).float().numpy()

        return Reference(cached_npy(cache / "reference" / f"{spec.name}-{workload.label}-seed{seed}.npy", compute))

    def fidelity(self, out, ref: Reference, inputs: dict) -> dict:
        from bench.measure.fidelity import compare_outputs

        return compare_outputs(out, ref.output)

    def measure(self, spec: ModelSpec, artifact, session, inputs: dict, workload: Workload, settings, device: str,
                probe, ref: Reference) -> tuple[Any, dict]:
        """Timed samples of one call (the Timing) and the fields this modality adds."""
        from bench.measure.timer import time_callable

        clock = probe.clock(session.sync if session.cuda_events else None)
        return time_callable(session.call, settings, session.sync, clock=clock), {}

    def items(self, workload: Workload) -> tuple[int, str]:
        """Items per inference, for energy per item."""
        return workload.batch_size, self.item_unit


def onnx_reference(path: str, inputs: dict):
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return np.asarray(sess.run(None, {k: v.numpy() for k, v in inputs.items() if k in names})[0], dtype=np.float32)


def _same_work_per_item(workload: Workload, inputs: dict) -> tuple[dict, int]:
    b = workload.batch_size
    if b == 1 or any(len(getattr(v, "shape", ())) == 0 or v.shape[0] != b for v in inputs.values()):
        return inputs, 1
    return {k: v[:1] for k, v in inputs.items()}, b


class Text(Modality):
    """Encoders over token ids; a workload may pad each sequence to a random real length."""

    name, item_unit = "text", "token"

    def workloads(self, w, default_size: int) -> list[Workload]:
        return [Workload(b, seq_len=s, real_lengths=None if r is None else (min(r[0], s), min(r[1], s)))
                for b in w.batch_sizes for s in w.seq_lens for r in w.real_lengths]

    def inputs(self, spec, workload, gen) -> dict:
        import torch

        shape = (workload.batch_size, workload.seq_len)
        # Ids above BERT's special and unused tokens; a small vocabulary keeps only its first few out.
        low = 1000 if spec.vocab > 2000 else min(5, spec.vocab - 1)
        ids = torch.randint(low, spec.vocab, shape, generator=gen, dtype=torch.long)
        mask = torch.ones(shape, dtype=torch.long)
        if workload.real_lengths:  # padded batch: ids 0 ([PAD]) and mask 0 past each real length
            lo, hi = workload.real_lengths
            lengths = torch.randint(lo, hi + 1, (workload.batch_size,), generator=gen)
            mask = (torch.arange(workload.seq_len)[None, :] < lengths[:, None]).long()
            ids = ids * mask
        return {"input_ids": ids, "attention_mask": mask}

    def per_item(self, workload, inputs):
        # Ragged items do different work: count the whole batch.
        return (inputs, 1) if workload.real_lengths is not None else _same_work_per_item(workload, inputs)

    def fidelity(self, out, ref, inputs) -> dict:
        from bench.measure.fidelity import compare_outputs
        from bench.optimize.varlen import real_token_outputs  # padded workloads: compare real tokens only

        out, expected, extra = real_token_outputs(out, ref.output, inputs)
        return {**compare_outputs(out, expected), **extra}

    def items(self, workload):
        return workload.batch_size * (workload.seq_len or 1), self.item_unit


class Vision(Modality):
    """Image models at their native resolution unless the suite names sizes; logits out."""

    name, item_unit = "vision", "image"

    def workloads(self, w, default_size: int) -> list[Workload]:
        return [Workload(b, image_size=s) for b in w.batch_sizes for s in (w.image_sizes or [default_size])]

    def inputs(self, spec, workload, gen) -> dict:
        import torch

        s = workload.image_size
        return {"pixel_values": torch.randn(workload.batch_size, 3, s, s, generator=gen)}

    def per_item(self, workload, inputs):
        return _same_work_per_item(workload, inputs)

    def fidelity(self, out, ref, inputs) -> dict:
        from bench.measure.fidelity import top1_agreement

        return {**super().fidelity(out, ref, inputs), "top1_agreement": top1_agreement(out, ref.output)}


class Decoder(Modality):
    """Causal LMs, timed per phase: the prefill (time to first token) and each decode step (time
    per output token); the standard latency fields hold the per-token samples."""

    name, item_unit = "decoder", "token"

    def workloads(self, w, default_size: int) -> list[Workload]:
        return [Workload(b, seq_len=p, new_tokens=n) for b in w.batch_sizes
                for p in (w.prompt_lens or w.seq_lens) for n in w.new_tokens]

    def inputs(self, spec, workload, gen) -> dict:
        import torch

        shape = (workload.batch_size, workload.seq_len)
        return {"input_ids": torch.randint(10, spec.vocab, shape, generator=gen, dtype=torch.long)}

    def static(self, spec, module, ctx) -> dict:
        from bench.measure.decode import decode_static

        # Prefill and per-token decode MACs, KV cache included.
        return {**super().static(spec, module, ctx), **decode_static(spec, module, ctx)}

    def reference(self, spec, workload, inputs, cache, seed, fresh=None) -> Reference:
        from bench.measure.decode import reference_tokens

        ref = super().reference(spec, workload, inputs, cache, seed, fresh)
        ref.tokens = reference_tokens(spec, workload, inputs, cache, seed, fresh)
        return ref

    def fidelity(self, out, ref, inputs) -> dict:
        from bench.measure.fidelity import top1_agreement

        return {**super().fidelity(out, ref, inputs), "top1_agreement": top1_agreement(out, ref.output)}

    def measure(self, spec, artifact, session, inputs, workload, settings, device, probe, ref):
        from bench.measure.decode import measure_decode

        return measure_decode(spec, artifact.module, inputs, workload, settings, device, session.sync, ref.tokens)

    def items(self, workload):
        return workload.batch_size * (workload.seq_len or 1), self.item_unit


MODALITIES: Registry[Modality] = Registry("modality")
for _m in (Text(), Vision(), Decoder()):
    MODALITIES.add(_m)


def modality_of(spec: ModelSpec) -> Modality:
    return MODALITIES.get(spec.modality)
