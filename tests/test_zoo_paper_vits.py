"""T2T-ViT and AutoFormer, built from their official code's definitions (bench/zoo/t2t_vit.py,
bench/zoo/autoformer.py): they run, build deterministically, and the MAC counter sees every op.

Published params/MACs are compared in tests/test_survey_zoo.py; counter vs closed form for every
size in tests/test_flops.py. Only the smallest variants are run here.
"""

import pytest
import torch

from bench.measure.flops import count_macs, count_params
from bench.zoo import MODELS, Workload
from bench.zoo.autoformer import CONFIGS, relative_indices
from bench.zoo.t2t_vit import PerformerToken

SMALLEST = ["t2t-vit-7", "autoformer-t"]
ALL = ["t2t-vit-7", "t2t-vit-12", "t2t-vit-14", "autoformer-t", "autoformer-s", "autoformer-b"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small ops stall in thread hand-offs on a loaded 2-core machine; one thread is steadier."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def built():
    return {name: MODELS.get(name).build(seed=0) for name in SMALLEST}


@pytest.mark.parametrize("name", SMALLEST)
def test_forward_gives_imagenet_logits(built, name):
    spec = MODELS.get(name)
    x = spec.inputs(Workload(2, image_size=224))
    with torch.no_grad():
        y = built[name](**x)
    assert y.shape == (2, 1000)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", SMALLEST)
def test_build_is_deterministic(built, name):
    spec = MODELS.get(name)
    a, b, c = built[name].state_dict(), spec.build(seed=0).state_dict(), spec.build(seed=1).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Random weights follow the seed; for T2T-ViT that includes the Performer's random features.
    assert not torch.equal(a[next(k for k in a if k.endswith("qkv.weight"))], c[next(k for k in c if k.endswith("qkv.weight"))])
    if name.startswith("t2t"):
        w = "net.tokens_to_token.attention1.w"
        assert torch.equal(a[w], b[w]) and not torch.equal(a[w], c[w])


@pytest.mark.parametrize("name", SMALLEST)
def test_counter_sees_every_op_and_matches_closed_form(built, name):
    spec = MODELS.get(name)
    w = Workload(1, image_size=224)
    count = count_macs(built[name], spec.inputs(w))
    assert count.uncounted == []
    assert count.macs == spec.closed_form_macs(w)
    assert count_params(built[name]) == spec.closed_form_params()


@pytest.mark.parametrize("name", ALL)
def test_registered_with_their_reference_rows(name):
    spec = MODELS.get(name)
    assert spec.modality == "vision" and spec.default_size == 224
    assert spec.family in ("vit-hybrid", "vit-nas")  # not "vit": the timm-layout optimizations do not apply
    assert spec.config.get("cost_source") != "published"  # exact closed forms


def test_t2t_soft_splits_give_the_official_token_counts(built):
    t2t = built["t2t-vit-7"].net.tokens_to_token
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        s0 = t2t.soft_split0(x).transpose(1, 2)
        a1 = t2t.attention1(s0)
        s1 = t2t.soft_split1(t2t._fold(a1)).transpose(1, 2)
        s2 = t2t.soft_split2(t2t._fold(t2t.attention2(s1))).transpose(1, 2)
    assert s0.shape == (1, 3136, 147) and a1.shape == (1, 3136, 64)
    assert s1.shape == (1, 784, 576) and s2.shape == (1, 196, 576)
    assert t2t.attention1.w.shape == (32, 64) and not t2t.attention1.w.requires_grad


def test_performer_runs_in_reduced_precision():
    torch.manual_seed(0)
    layer = PerformerToken(147, 64).eval()
    x = torch.randn(2, 49, 147)
    with torch.no_grad():
        ref = layer(x)
        low = layer.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), ref, atol=0.1, rtol=0.05)


def test_autoformer_relative_indices():
    v, h = relative_indices(197)
    assert v.shape == h.shape == (197, 197)
    # Row and column 0 are the class token's; patches use 1 + clip(distance, -14, 14) + 14.
    assert (v[0] == 0).all() and (v[:, 0] == 0).all() and (h[0] == 0).all() and (h[:, 0] == 0).all()
    assert (v[1:, 1:].diagonal() == 15).all() and (h[1:, 1:].diagonal() == 15).all()
    # Patch 0 is (row 0, col 0); patch 13 is (row 0, col 13); patch 195 is (row 13, col 13).
    assert v[1, 14] == 15 and h[1, 14] == 15 + 13
    assert v[1, 196] == 15 + 13 and h[196, 1] == 15 - 13


def test_autoformer_subnet_configs():
    depth = {name: len(c["num_heads"]) for name, c in CONFIGS.items()}
    assert depth == {"AutoFormer-T": 13, "AutoFormer-S": 13, "AutoFormer-B": 14}
    assert all(len(c["mlp_ratio"]) == len(c["num_heads"]) for c in CONFIGS.values())
    assert [c["embed_dim"] for c in CONFIGS.values()] == [192, 384, 576]
