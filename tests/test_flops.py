"""Counted parameters and MACs agree with each model's closed form, attention included."""

import pytest
import torch

from bench.measure.flops import count_macs, count_params
from bench.zoo import MODELS, Workload


def _workload(spec, batch=1):
    return Workload(batch, seq_len=128) if spec.modality in ("text", "decoder") else Workload(batch, image_size=spec.default_size)


# Models whose spec returns the published figure are checked against it in tests/test_survey_zoo.py.
CLOSED_FORM = [n for n in MODELS.names() if MODELS.get(n).config.get("cost_source") != "published"]
# The largest builds take seconds each: the full tier checks them, the everyday tier the rest.
BIG = {"bert-large", "gpt2-medium", "deit-b", "gpt2"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in CLOSED_FORM])
def test_counted_macs_and_params_match_closed_form(name):
    spec = MODELS.get(name)
    model = spec.build()
    w = _workload(spec)
    count = count_macs(model, spec.inputs(w))
    assert count.uncounted == []
    assert abs(count.macs / spec.closed_form_macs(w) - 1) < 0.01
    assert count_params(model) == spec.closed_form_params()
    assert count.flops == 2 * count.macs
    # Attention is counted: the fused SDPA kernel contributes.
    assert any("attention" in op or op == "bmm" for op in count.by_op)


def test_published_anchor_numbers():
    bert = MODELS.get("bert-base")
    assert round(bert.closed_form_macs(Workload(1, seq_len=128)) / 1e9, 2) == 11.17
    deit = MODELS.get("deit-s")
    assert round(deit.closed_form_macs(Workload(1, image_size=224)) / 1e9, 2) == 4.60
    assert round(deit.closed_form_params() / 1e6, 2) == 22.05  # mmpretrain's DeiT-S figure


def test_macs_scale_with_batch_and_sequence():
    spec = MODELS.get("tinybert-4")
    m = spec.build()
    a = count_macs(m, spec.inputs(Workload(1, seq_len=64))).macs
    b = count_macs(m, spec.inputs(Workload(2, seq_len=64))).macs
    assert b == 2 * a


def test_unknown_heavy_ops_are_listed_not_zeroed():
    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.tensordot(x, x, dims=([1], [0])) + torch.nn.functional.linear(x, x)

    # tensordot lowers to mm (counted); a raw aten op without a formula must be listed.
    class Raw(torch.nn.Module):
        def forward(self, x):
            return torch.ops.aten._native_multi_head_attention(
                x, x, x, 4, 1, torch.eye(4).repeat(3, 1), torch.zeros(12), torch.eye(4), torch.zeros(4))[0]

    x = torch.randn(1, 3, 4)
    count = count_macs(Raw(), {"x": x})
    assert any("multi_head_attention" in op for op in count.uncounted)
    assert count_macs(Odd(), {"x": torch.randn(4, 4)}).macs == 2 * 4 * 4 * 4


@pytest.mark.parametrize("name", ["deit-ti", "tinybert-4", "mobilenetv3-small-100"])
def test_counting_one_item_and_scaling_equals_counting_the_batch(name):
    from bench.zoo.base import per_item_inputs

    spec = MODELS.get(name)
    w = Workload(3, seq_len=32) if spec.modality == "text" else Workload(3, image_size=spec.default_size)
    model, inputs = spec.build(), spec.inputs(w)
    one, scale = per_item_inputs(spec, w, inputs)
    assert scale == 3 and all(v.shape[0] == 1 for v in one.values())
    assert count_macs(model, one).macs * scale == count_macs(model, inputs).macs


def test_ragged_text_and_decoders_are_counted_on_the_whole_batch():
    from bench.zoo.base import per_item_inputs

    spec = MODELS.get("tinybert-4")
    w = Workload(3, seq_len=32, real_lengths=(8, 32))
    inputs = spec.inputs(w)
    assert per_item_inputs(spec, w, inputs) == (inputs, 1)
    gpt = MODELS.get("gpt2")
    w = Workload(2, seq_len=16, new_tokens=4)
    inputs = gpt.inputs(w)
    assert per_item_inputs(gpt, w, inputs) == (inputs, 1)
