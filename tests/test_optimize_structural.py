"""Structural optimizations: exact ones are exact, lossy ones bounded, shape changers match closed forms."""

import copy

import pytest
import torch
from pydantic import ValidationError

from bench.errors import UserError
from bench.measure.flops import count_macs, count_params
from bench.optimize import (
    OPTIMIZATIONS,
    arch,
    attention,
    elastic,
    factorize,
    normalize,
    prune,
    tokens,
    varlen,
)
from bench.suite import Cell, Step, Target, check, expand, load_suite, parse_suite
from bench.zoo import MODELS, Workload

TEXT = ("tinybert-4", Workload(2, seq_len=16))
VISION = ("deit-ti", Workload(1, image_size=224))
BOTH = [TEXT, VISION]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Threaded kernels (SVD above all) crawl on a loaded 2-core machine; one thread is steadier."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def built():
    """One built model and its inputs and output per model; tests deep-copy before editing."""
    out = {}
    for name, w in BOTH:
        spec = MODELS.get(name)
        m = spec.build()
        x = spec.inputs(w)
        with torch.no_grad():
            out[name] = (spec, w, m, x, m(**x))
    return out


def fresh(built, name):
    spec, w, m, x, ref = built[name]
    return spec, w, copy.deepcopy(m), x, ref


def counted(m, x):
    c = count_macs(m, x)
    assert c.uncounted == []
    return count_params(m), c.macs


def err(a, b):
    return (a - b).abs().max().item()


# --- pruning -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
@pytest.mark.parametrize("heads,ffn", [(0.5, 0.0), (0.0, 0.5), (0.25, 0.75)])
def test_structured_pruning_matches_closed_form(built, name, heads, ffn):
    spec, w, m, x, ref = fresh(built, name)
    if heads:
        prune.prune_heads_(m, heads)
    if ffn:
        prune.prune_ffn_(m, ffn)
    params, macs = counted(m, x)
    assert (params, macs) == prune.pruned_closed_form(spec, w, head_ratio=heads, ffn_ratio=ffn)
    assert params < spec.closed_form_params() and macs < spec.closed_form_macs(w)
    h, n_heads, f, _ = arch.model_dims(spec)
    layer = arch.layers(m)[0]
    assert layer.num_heads == prune.kept(n_heads, heads)
    assert layer.fc2.weight.shape == (h, prune.kept(f, ffn))
    with torch.no_grad():
        assert m(**x).shape == ref.shape


def test_pruning_at_ratio_zero_is_exact(built):
    spec, w, m, x, ref = fresh(built, "tinybert-4")
    prune.prune_heads_(m, 0.0)
    prune.prune_ffn_(m, 0.0)
    with torch.no_grad():
        assert err(m(**x), ref) == 0.0


def test_head_pruning_keeps_highest_norm_heads(built):
    spec, w, m, x, ref = fresh(built, "deit-ti")
    layer = arch.layers(m)[0]
    with torch.no_grad():
        layer.attn_out.weight[:, 64:128] *= 10  # head 1 of 3 (head_dim 64) is clearly the most important
    scores = prune.head_scores(layer)
    assert int(scores.argmax()) == 1
    prune.prune_heads_(m, 0.67)  # keeps 1 head
    assert arch.layers(m)[0].num_heads == 1
    with torch.no_grad():
        assert torch.allclose(arch.layers(m)[0].attn_out.weight, layer.attn_out.weight)  # the same object
    assert arch.layers(m)[0].block.attn.qkv.weight.shape == (3 * 64, 192)


def test_magnitude_pruning_zeroes_the_smallest_and_changes_no_shape(built):
    spec, w, m, x, ref = fresh(built, "tinybert-4")
    before = counted(m, x)
    k = prune.magnitude_prune(m, 0.3)
    weights = torch.cat([lin.weight.detach().flatten() for lin in prune.encoder_linears(m)])
    assert k == round(0.3 * weights.numel())
    zero = weights == 0
    assert int(zero.sum()) == k
    originals = torch.cat([lin.weight.detach().flatten() for lin in prune.encoder_linears(built["tinybert-4"][2])])
    assert originals[zero].abs().max() <= originals[~zero].abs().min()  # global magnitude order
    assert counted(m, x) == before  # dense kernels: same params and MACs
    with torch.no_grad():
        assert 0 < err(m(**x), ref)
    assert prune.magnitude_prune(copy.deepcopy(built["tinybert-4"][2]), 0.0) == 0


def test_2to4_mask_keeps_two_largest_of_every_four():
    w = torch.randn(8, 16)
    mask = prune.mask_2_4(w)
    groups, keep = w.abs().reshape(8, 4, 4), mask.reshape(8, 4, 4)
    assert (keep.sum(-1) == 2).all()
    assert (groups.masked_fill(~keep, float("inf")).min(-1).values >= groups.masked_fill(keep, -1).max(-1).values).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="2:4 sparse kernels need CUDA")
def test_2to4_runs_on_cuda(built, tmp_path):
    spec, w, m, x, ref = fresh(built, "deit-ti")
    from bench.optimize.base import Artifact, Context
    # The sparse kernels must compute what the same 2:4 mask computes densely (pruning itself is
    # lossy on random weights, so the fp32 reference is not the target here).
    masked = copy.deepcopy(m)
    with torch.no_grad():
        for lin in prune.encoder_linears(masked):
            if not (lin.in_features % 64 or lin.out_features % 64):
                lin.weight.mul_(prune.mask_2_4(lin.weight))
        want = masked(**x)
    ctx = Context(spec, w, x, "cuda", tmp_path, tmp_path)
    art = prune.sparse_2to4(Artifact("torch", m), prune.SemiStructuredParams(), ctx)
    with torch.no_grad():
        out = art.module(**{k: v.cuda() for k, v in x.items()}).float().cpu()
    assert torch.nn.functional.cosine_similarity(out.flatten(), want.flatten(), dim=0) > 0.99


# --- plan-time rejection -----------------------------------------------------------------------

def _cell(model, chain, device="cpu"):
    steps = tuple(Step(name=n, params=p) for n, p in chain)
    w = Workload(1, seq_len=16) if MODELS.get(model).modality == "text" else Workload(1, image_size=224)
    return Cell(model, steps, Target(runtime="torch", device=device, threads=1), w, None)


@pytest.mark.parametrize("model,chain,reason", [
    ("bert-base", [("pre-rmsnorm", {})], "applies to vit models, not bert"),
    ("bert-base", [("ln-fold", {})], "applies to vit models, not bert"),
    ("deit-s", [("varlen-packed", {})], "applies to bert models, not vit"),
    ("deit-s", [("bert-word-elimination", {})], "applies to bert models, not vit"),
    ("bert-base", [("vit-token-keep", {})], "applies to vit models, not bert"),
    ("bert-base", [("sparse-2to4", {})], "runs on cuda only, not cpu"),
    ("deit-s", [("sdpa-efficient", {})], "runs on cuda only, not cpu"),
    ("deit-s", [("vit-token-keep", {}), ("ort-dynamic-int8", {})], "onnx-export cannot convert"),
])
def test_unsupported_combinations_are_rejected_at_plan_time(model, chain, reason):
    resolved, why = check(_cell(model, chain))
    assert resolved == () and reason in why


def test_structural_chain_into_onnx_plans():
    cell = _cell("bert-base", [("prune-heads", {"ratio": 0.25}), ("ort-dynamic-int8", {})])
    cell.target = Target(runtime="onnxruntime", threads=1)
    resolved, why = check(cell)
    assert why == "" and [s.name for s in resolved] == ["prune-heads", "onnx-export", "ort-dynamic-int8"]


def test_layout_outside_bert_and_vit_fails_with_a_reason():
    with pytest.raises(UserError, match="DistilBertModel"):
        prune.prune_heads_(MODELS.get("distilbert").build(), 0.5)


def test_opt_structural_suite_plans():
    plan = expand(load_suite("suites/opt-structural.yaml"))
    ran = {(c.model, c.steps[0].name, c.workload.label) for c in plan.runnable}
    assert ("bert-base", "varlen-packed", "b4-s128-r16_128") in ran
    assert ("bert-base", "fp32", "b4-s128-r16_128") in ran
    assert ("deit-s", "pre-rmsnorm", "b1-i224") in ran
    assert not any(w.startswith("b4") and n not in ("fp32", "varlen-packed") for _, n, w in ran)


# --- factorization -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_svd_rank_matches_closed_form(built, name):
    spec, w, m, x, ref = fresh(built, name)
    factorize.factorize_(m, rank=24)
    assert counted(m, x) == factorize.lowrank_closed_form(spec, w, 24)


def test_svd_error_is_bounded_by_the_next_singular_value():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 48)
    s = torch.linalg.svdvals(lin.weight.detach().double())
    low = factorize.factor(lin, 10)
    x = torch.randn(200, 64)
    with torch.no_grad():
        e = (low(x) - lin(x)).norm(dim=1)
    assert (e <= s[10].item() * x.norm(dim=1) * (1 + 1e-4)).all()
    with torch.no_grad():
        assert err(factorize.factor(lin, 48)(x), lin(x)) < 1e-5  # full rank: exact


def test_svd_energy_threshold_keeps_that_energy():
    s = torch.tensor([4.0, 2.0, 1.0, 1.0])  # energies 16, 4, 1, 1 of 22
    assert factorize.energy_rank(s, 16 / 22) == 1
    assert factorize.energy_rank(s, 0.8) == 2
    assert factorize.energy_rank(s, 1.0) == 4
    with pytest.raises(ValidationError, match="exactly one"):
        factorize.SvdParams(rank=4, energy=0.9)


def test_svd_leaves_layers_where_factoring_does_not_pay(built):
    spec, w, m, x, ref = fresh(built, "tinybert-4")
    assert factorize.factorize_(m, rank=10_000) == []
    with torch.no_grad():
        assert err(m(**x), ref) == 0.0


# --- normalization -----------------------------------------------------------------------------

def _random_affine(m):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.5)


@pytest.mark.parametrize("fn", [normalize.fold_layernorm_, normalize.pre_rmsnorm_])
def test_normalization_rewrites_are_exact(built, fn):
    spec, w, m, x, _ = fresh(built, "deit-ti")
    _random_affine(m)  # make the folded affine non-trivial
    with torch.no_grad():
        ref = m(**x)
        p0 = count_params(m)
        fn(m)
        out = m(**x)
    assert err(out, ref) < 1e-5
    assert p0 - count_params(m) == normalize.norm_params_removed(spec)
    if fn is normalize.pre_rmsnorm_:
        assert not any(isinstance(mod, torch.nn.LayerNorm) for mod in m.modules())


def test_pre_rmsnorm_keeps_the_residual_stream_zero_mean(built):
    spec, w, m, x, _ = fresh(built, "deit-ti")
    normalize.pre_rmsnorm_(m)
    _, vit = arch.encoder_of(m)
    with torch.no_grad():
        h = arch.vit_embed(vit, x["pixel_values"])
        for layer in arch.layers(m)[:3]:
            h = arch.vit_layer(layer, h)
            assert h.mean(-1).abs().max() < 1e-5


# --- token reduction ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_token_reduction_keep_rate_one_is_exact(built, name):
    spec, w, m, x, ref = fresh(built, name)
    cls = tokens.ViTTokenKeep if spec.family == "vit" else tokens.BertWordElimination
    with torch.no_grad():
        assert err(cls(m, 1.0, [0, 1, 2])(**x), ref) == 0.0


@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
@pytest.mark.parametrize("keep,at", [(0.5, [1, 2]), (0.7, [0, 3])])
def test_token_reduction_macs_follow_the_schedule(built, name, keep, at):
    spec, w, m, x, ref = fresh(built, name)
    cls = tokens.ViTTokenKeep if spec.family == "vit" else tokens.BertWordElimination
    t = cls(m, keep, at)
    params, macs = counted(t, x)
    assert (params, macs) == tokens.token_closed_form(spec, w, keep, at)
    assert macs < spec.closed_form_macs(w)
    with torch.no_grad():
        out = t(**x)
    assert out.shape == ref.shape and 0 < err(out, ref)


def test_token_schedule_counts():
    assert tokens.token_schedule(197, 4, 0.5, [1, 3]) == [(197, 197), (197, 99), (99, 99), (99, 50)]
    # EViT's fusion adds one token per selecting layer; that token may be dropped or fused later.
    assert tokens.token_schedule(197, 4, 0.5, [1, 3], fuse=True) == [(197, 197), (197, 100), (100, 100), (100, 52)]


@pytest.mark.parametrize("keep,at", [(0.5, [1, 2]), (0.7, [0, 3])])
def test_evit_fusion_macs_follow_the_schedule_and_the_extra_token_is_the_weighted_sum(built, keep, at):
    spec, w, m, x, ref = fresh(built, VISION[0])
    t = tokens.ViTTokenKeep(m, keep, at, fuse=True)
    params, macs = counted(t, x)
    assert (params, macs) == tokens.token_closed_form(spec, w, keep, at, fuse=True)
    assert macs > tokens.token_closed_form(spec, w, keep, at)[1]  # one more token, plus the weighted sums
    with torch.no_grad():
        out = t(**x)
    assert out.shape == ref.shape and 0 < err(out, ref)
    # The fused token, checked against EViT's own formulation (youweiliang/evit Block.forward):
    # complement of the top-k, gathered, weighted by CLS attention and summed.
    xs = torch.randn(2, 9, 4)
    score = torch.rand(2, 8)
    keep_idx = tokens._keep_order(score, 5)
    drop = tokens._complement(keep_idx, 8)
    assert sorted(keep_idx[0].tolist() + drop[0].tolist()) == list(range(8))
    fused = torch.bmm(score.gather(1, drop)[:, None, :], tokens._gather(xs[:, 1:], drop))[:, 0]
    expected = torch.stack([sum(score[b, j] * xs[b, 1 + j] for j in range(8) if j not in keep_idx[b].tolist())
                            for b in range(2)])
    assert torch.allclose(fused, expected, atol=1e-6)


def test_bert_elimination_drops_padding_first(built):
    # At the last layer elimination only decides which tokens the FFN sees; 8 of the 15 non-CLS
    # positions stay, and with at most 8 real tokens every real one is among them.
    spec, w, m, x, ref = fresh(built, "tinybert-4")
    x2 = spec.inputs(Workload(2, seq_len=16, real_lengths=(6, 8)))
    with torch.no_grad():
        ref2 = m(**x2)
        out = tokens.BertWordElimination(m, 0.5, [3])(**x2)
    real = x2["attention_mask"].bool()
    assert err(out[real], ref2[real]) < 1e-5
    assert err(out[~real], ref2[~real]) > 1e-3  # eliminated padding kept its attention-output value


# --- attention ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["math", "flash"])
@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_sdpa_backends_compute_the_same_attention(built, name, backend):
    spec, w, m, x, ref = fresh(built, name)
    pinned = attention.PinnedBackend(m, attention.BACKENDS[backend][0])
    with torch.no_grad():
        assert err(pinned(**x), ref) < 1e-4
    assert counted(pinned, x)[1] == spec.closed_form_macs(w)


def test_sdpa_backend_devices_are_declared():
    assert OPTIMIZATIONS.get("sdpa-math").devices == ("cpu", "cuda")
    assert OPTIMIZATIONS.get("sdpa-efficient").devices == ("cuda",)
    assert OPTIMIZATIONS.get("sdpa-cudnn").devices == ("cuda",)


def test_linear_attention_equals_its_quadratic_form_and_stays_in_range():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 20, 8, generator=g) for _ in range(3))
    mask = torch.ones(2, 1, 1, 20, dtype=torch.bool)
    mask[1, ..., 12:] = False
    lin = attention.linear_attention(q, k, v, mask)
    assert err(lin, attention.linear_attention_quadratic(q, k, v, mask)) < 1e-5
    soft = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    lo, hi = v.min(2, keepdim=True).values, v.max(2, keepdim=True).values
    assert ((lin >= lo - 1e-5) & (lin <= hi + 1e-5)).all()  # both are convex combinations of V's rows,
    assert ((lin - soft).abs() <= (hi - lo) + 1e-5).all()  # so they differ by at most V's range
    masked = v.clone()
    masked[1, :, 12:] = 1e3  # masked keys must not matter
    assert err(attention.linear_attention(q, k, masked, mask), lin) < 1e-4


@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_linear_attention_macs_match_closed_form(built, name):
    spec, w, m, x, ref = fresh(built, name)
    la = arch.FunctionalEncoder(m, attention.linear_attention)
    assert counted(la, x) == attention.linear_attention_closed_form(spec, w)


@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_windowed_attention_is_exact_when_the_window_covers_the_sequence(built, name):
    spec, w, m, x, ref = fresh(built, name)
    n = arch.tokens_of(w)
    with torch.no_grad():
        assert err(arch.FunctionalEncoder(m, attention.windowed(n - 1))(**x), ref) == 0.0
        local = arch.FunctionalEncoder(m, attention.windowed(2))
        assert err(local(**x), ref) > 1e-3
    assert counted(local, x)[1] == spec.closed_form_macs(w)  # dense masked kernel: no MACs saved


def test_band_mask():
    b = attention.band_mask(5, 1)
    assert b.sum() == 13 and b[0, 1] and not b[0, 2]


# --- variable length ---------------------------------------------------------------------------

def test_packed_equals_padded_on_real_tokens(built):
    spec, _, m, _, _ = fresh(built, "tinybert-4")
    w = Workload(4, seq_len=24, real_lengths=(3, 24))
    x = spec.inputs(w)
    lengths = x["attention_mask"].sum(1).tolist()
    assert min(lengths) >= 3 and len(set(lengths)) > 1
    packed = varlen.PackedBert(m)
    with torch.no_grad():
        ref, out = m(**x), packed(**x)
    real = x["attention_mask"].bool()
    assert err(out[real], ref[real]) < 1e-5
    assert out[~real].abs().max() == 0
    params, macs = counted(packed, x)
    assert macs == varlen.packed_closed_form(spec, lengths)
    assert macs < spec.closed_form_macs(w)
    assert params == spec.closed_form_params()


def test_real_lengths_workload_and_fidelity_on_real_tokens():
    spec = MODELS.get("tinybert-4")
    w = Workload(3, seq_len=10, real_lengths=[4, 6])
    assert w.real_lengths == (4, 6) and w.label == "b3-s10-r4_6"
    x = spec.inputs(w)
    assert x["attention_mask"].sum(1).min() >= 4 and x["attention_mask"].sum(1).max() <= 6
    assert (x["input_ids"][x["attention_mask"] == 0] == 0).all()
    out, ref = torch.zeros(3, 10, 2).numpy(), torch.ones(3, 10, 2).numpy()
    a, b, rec = varlen.real_token_outputs(out, ref, x)
    assert a.shape == (rec["real_tokens"], 2) == b.shape
    full = spec.inputs(Workload(3, seq_len=10))
    a, _, rec = varlen.real_token_outputs(out, ref, full)
    assert a.shape == (3, 10, 2) and rec == {}


def test_suite_real_lengths_schema():
    base = "name: t\nmodels: [tinybert-4]\noptimizations: [fp32]\ntargets: [{runtime: torch}]\n"
    s = parse_suite(base + "workloads: {seq_lens: [32], real_lengths: [null, [8, 64]]}\n")
    labels = [c.workload.label for c in expand(s).cells]
    assert labels == ["b1-s32", "b1-s32-r8_32"]
    with pytest.raises(UserError, match="lo <= hi"):
        parse_suite(base + "workloads: {real_lengths: [[9, 3]]}\n")
    s = parse_suite(base.replace("[fp32]", "[fp32, varlen-packed]")
                    + "workloads: {real_lengths: [null, [8, 64]]}\n"
                    + "exclude: [{workload: 'b1-s128', optimization: varlen-packed}]\n")
    assert [(c.optimization, c.workload.label) for c in expand(s).cells] == [
        ("fp32", "b1-s128"), ("fp32", "b1-s128-r8_64"), ("varlen-packed", "b1-s128-r8_64")]


# --- elastic width -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [TEXT[0], VISION[0]])
def test_elastic_width(built, name):
    spec, w, m, x, ref = fresh(built, name)
    full = copy.deepcopy(m)
    elastic.slice_ffn_(full, 1.0)
    with torch.no_grad():
        assert err(full(**x), ref) == 0.0
    first = arch.layers(m)[0].fc1.weight.detach().clone()
    elastic.slice_ffn_(m, 0.25)
    assert counted(m, x) == elastic.elastic_closed_form(spec, w, 0.25)
    assert torch.equal(arch.layers(m)[0].fc1.weight, first[: elastic.width(first.shape[0], 0.25)])  # nested prefix


# --- the cell counts a lossy structural step after it ------------------------------------------

def test_cell_counts_macs_after_a_lossy_structural_step(tmp_path):
    from bench.cell import run_cell
    from bench.suite import Measure

    w = Workload(1, seq_len=16)
    cell = Cell("tinybert-4", (Step(name="prune-heads", params={"ratio": 0.5}),), Target(runtime="torch", threads=1),
                w, Measure(warmup_iters=1, warmup_s=0, min_time_s=0.05, max_time_s=0.5, min_samples=5))
    cell.resolved, why = check(cell)
    rec = run_cell(cell.to_json(), tmp_path / "cache", tmp_path / "scratch")
    spec = MODELS.get("tinybert-4")
    assert (rec["params"], rec["macs"]) == prune.pruned_closed_form(spec, w, head_ratio=0.5)
    assert rec["cosine_sim"] < 1.0


# --- exportable steps really export ------------------------------------------------------------

@pytest.mark.parametrize("edit", ["prune-heads", "linear-attention"])
def test_exportable_structural_steps_run_under_onnxruntime(built, tmp_path, edit):
    import onnxruntime as ort

    from bench.optimize.export import ExportParams, export_onnx

    spec, w, m, x, _ = fresh(built, "tinybert-4")
    if edit == "prune-heads":
        prune.prune_heads_(m, 0.5)
    else:
        m = arch.FunctionalEncoder(m, attention.linear_attention)
    assert OPTIMIZATIONS.get(edit).exportable
    with torch.no_grad():
        ref = m(**x).numpy()
    path = export_onnx(m, x, tmp_path / "m.onnx", ExportParams())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {k: v.numpy() for k, v in x.items()})[0]
    assert abs(out - ref).max() < 1e-4
