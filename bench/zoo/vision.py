"""Builders of the timm vision models (specs and closed forms: bench/zoo/specs/vision.py)."""

from __future__ import annotations

import torch


class Logits(torch.nn.Module):
    """Gives every vision model the same named input, `pixel_values`."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values)


def timm_model(timm_name: str, **kwargs) -> torch.nn.Module:
    """A timm architecture with seeded random weights (`pretrained=False`: nothing is downloaded)."""
    import timm

    return Logits(timm.create_model(timm_name, pretrained=False, **kwargs))
