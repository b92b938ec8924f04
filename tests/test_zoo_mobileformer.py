"""Mobile-Former in the zoo: builds, runs, is deterministic, and the MAC counter sees all of it.

The published-figure comparison of every variant is in tests/test_survey_zoo.py.
"""

import pytest
import torch

from bench.measure.flops import count_macs, count_params
from bench.reference import published_cost
from bench.zoo import MODELS, Workload
from bench.zoo.mobile_former import VARIANTS

SMALLEST = "mobile-former-96m"


@pytest.fixture(scope="module")
def smallest():
    spec = MODELS.get(SMALLEST)
    return spec, spec.build(seed=0)


def test_every_variant_is_registered_as_a_published_cost_vit_hybrid():
    assert len(VARIANTS) == 5
    for ref in VARIANTS:
        spec = MODELS.get(ref.lower())
        assert (spec.family, spec.modality, spec.default_size) == ("vit-hybrid", "vision", 224)
        assert spec.config["cost_source"] == "published" and spec.config["reference"] == ref
        params_m, macs_g = published_cost(ref)
        assert spec.closed_form_params() == round(params_m * 1e6)
        assert spec.closed_form_macs(Workload(2, image_size=224)) == 2 * round(macs_g * 1e9)


def test_smallest_variant_gives_logits_for_a_batch(smallest):
    spec, model = smallest
    assert not model.training
    inputs = spec.inputs(Workload(2, image_size=224))
    assert inputs["pixel_values"].shape == (2, 3, 224, 224)
    with torch.no_grad():
        out = model(**inputs)
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()
    # Images in the batch are processed independently (tokens are broadcast, not shared state).
    with torch.no_grad():
        one = model(pixel_values=inputs["pixel_values"][1:])
    torch.testing.assert_close(out[1:], one, rtol=1e-4, atol=1e-4)


def test_build_is_deterministic(smallest):
    spec, model = smallest
    again = spec.build(seed=0)
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = spec.build(seed=1)
    assert not torch.equal(other.state_dict()["tokens"], a["tokens"])
    x = spec.inputs(Workload(1, image_size=224))
    with torch.no_grad():
        torch.testing.assert_close(model(**x), again(**x), rtol=0, atol=0)


def test_counter_misses_no_op_and_sees_the_bridges(smallest):
    spec, model = smallest
    count = count_macs(model, spec.inputs(Workload(1, image_size=224)))
    assert count.uncounted == []
    assert count.by_op["convolution"] > 0
    # The Mobile<->Former bridges and the Former are attention: counted through SDPA (or its bmm fallback).
    assert sum(v for op, v in count.by_op.items() if "attention" in op or op == "bmm") > 0
    # Parameters as the release's 96M config gives them (4 tokens of width 128), and MACs scale with batch.
    assert count_params(model) == 4_585_252
    assert count.macs == 92_017_040
    assert count_macs(model, spec.inputs(Workload(2, image_size=224))).macs == 2 * count.macs
