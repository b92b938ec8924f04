"""Builders of the BERT-family encoders (specs and closed forms: bench/zoo/specs/text.py)."""

from __future__ import annotations

import torch
import transformers as tf


class HiddenStates(torch.nn.Module):
    """Calls an HF encoder and returns one tensor, so every runtime sees the same signature."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def bert(**cfg) -> torch.nn.Module:
    return HiddenStates(tf.BertModel(tf.BertConfig(**cfg), add_pooling_layer=False))


def distilbert(**cfg) -> torch.nn.Module:
    return HiddenStates(tf.DistilBertModel(tf.DistilBertConfig(**cfg)))


def albert(**cfg) -> torch.nn.Module:
    return HiddenStates(tf.AlbertModel(tf.AlbertConfig(**cfg), add_pooling_layer=False))


def mobilebert() -> torch.nn.Module:
    return HiddenStates(tf.MobileBertModel(tf.MobileBertConfig(), add_pooling_layer=False))
