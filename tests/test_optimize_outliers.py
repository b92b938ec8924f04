"""Outlier statistics and Outlier Suppression+: exact in fp32, and it restores W8A8 fidelity."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bench.optimize.outliers import _Moments, fold, linear_input_stats, prenorm_pairs
from bench.zoo.outliers import plant_outliers
from tests.optimize_helpers import apply_chain, built, fidelity, make_ctx, reference, run


def test_kurtosis_and_max_match_numpy():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 50, 8, generator=gen), torch.randn(2, 40, 8, generator=gen) ** 3
    mo = _Moments()
    mo.add(a)
    mo.add(b)
    x = np.concatenate([a.numpy().ravel(), b.numpy().ravel()]).astype(np.float64)
    m = x.mean()
    want = ((x - m) ** 4).mean() / ((x - m) ** 2).mean() ** 2
    s = mo.summary()
    assert s["kurtosis"] == pytest.approx(want, rel=1e-9)
    assert s["max_abs"] == pytest.approx(np.abs(x).max())


def test_fold_is_exact_for_any_shift_and_scale():
    torch.manual_seed(0)
    norm, lin = torch.nn.LayerNorm(16), torch.nn.Linear(16, 8)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(5, 16)
    with torch.no_grad():
        want = lin(norm(x))
        fold(norm, lin, torch.randn(16).double() * 3, torch.rand(16).double() * 10 + 1)
        got = lin(norm(x))
    assert (got - want).abs().max() < 1e-5


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    ctx = make_ctx("deit-ti-outliers", tmp_path_factory.mktemp("vit"))
    return ctx, reference(ctx)


def test_planted_outliers_show_in_the_stats(vit):
    ctx, _ = vit
    batch = [ctx.inputs]
    plain_model = built(make_ctx("deit-ti", ctx.scratch))
    plant_outliers(spiky_model := copy.deepcopy(plain_model))
    zoo = built(ctx).state_dict()  # the zoo's deit-ti-outliers is deit-ti with the outliers planted
    assert all(torch.equal(v, zoo[k]) for k, v in spiky_model.state_dict().items())
    plain = {s["layer"]: s for s in linear_input_stats(plain_model, batch)}
    spiky = {s["layer"]: s for s in linear_input_stats(spiky_model, batch)}
    qkv = "net.blocks.0.attn.qkv"
    assert plain[qkv]["max_abs"] < 8 and plain[qkv]["kurtosis"] < 5  # random LayerNorm: near-Gaussian
    assert spiky[qkv]["max_abs"] > 20 and spiky[qkv]["kurtosis"] > 20
    assert spiky[qkv]["top_channel_over_median"] > 5 * plain[qkv]["top_channel_over_median"]


def test_outlier_stats_step_records_every_linear_and_changes_nothing(vit):
    ctx, ref = vit
    art = apply_chain(ctx, [("outlier-stats", {"batches": 1})])
    stats = art.record["outlier_stats"]
    assert len(stats) == 12 * 4 + 1  # qkv, proj, fc1, fc2 per block, and the head
    assert art.record["outlier_max_abs"] == pytest.approx(max(s["max_abs"] for s in stats), rel=1e-4)
    assert art.record["outlier_kurtosis_max"] >= art.record["outlier_kurtosis_median"]
    assert np.array_equal(run(art, ctx), ref)


def test_os_plus_is_exact_in_fp32_and_shrinks_the_ranges(vit):
    ctx, ref = vit
    art = apply_chain(ctx, [("os-plus", {"calib_batches": 1})])
    assert len(prenorm_pairs(art.module)) == art.record["os_plus_pairs"] == 24
    assert fidelity(art, ctx, ref)["max_abs_err"] < 1e-4
    assert art.record["os_plus_max_abs_after"] < 0.25 * art.record["os_plus_max_abs_before"]
    assert art.record["os_plus_w8a8_rel_err_after"] < 0.2 * art.record["os_plus_w8a8_rel_err_before"]


def test_os_plus_restores_w8a8_fidelity(vit):
    ctx, ref = vit
    int8 = [("onnx-export", {}), ("ort-static-int8", {"calib_batches": 1})]
    plain = fidelity(apply_chain(ctx, int8), ctx, ref)
    suppressed = fidelity(apply_chain(ctx, [("os-plus", {"calib_batches": 1}), *int8]), ctx, ref)
    assert suppressed["cosine_sim"] > 0.999
    # Random-weight branches add little to the residual stream, so the end-to-end gain is modest;
    # at the quantized layers themselves it is large.
    assert 1 - suppressed["cosine_sim"] < 0.8 * (1 - plain["cosine_sim"])
    assert suppressed["max_abs_err"] < plain["max_abs_err"]
