"""PyTorch eager execution."""

from __future__ import annotations

import torch

from bench.runtime.base import Session


def bind_torch(artifact, target, inputs) -> Session:
    torch.set_num_threads(target.threads)
    device = torch.device(target.device)
    module = artifact.module.to(device).eval()
    feeds = {k: v.to(device) for k, v in inputs.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    def call():
        with torch.inference_mode():
            return module(**feeds)

    def predict(batch: dict):
        with torch.inference_mode():
            return module(**{k: v.to(device) for k, v in batch.items()}).float().cpu().numpy()

    return Session(call=call, output=lambda y: y.float().cpu().numpy(), sync=sync, predict=predict,
                   info={"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()})
