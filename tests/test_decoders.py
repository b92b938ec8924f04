"""Decoder workloads: closed-form MACs per phase, KV-cache bytes, GPT-2's Conv1D, the decoder cell."""

import json
from pathlib import Path

import pytest
import torch
import transformers as tf

from bench.errors import UserError
from bench.measure.decode import check_context, decode_static, generate, kv_cache_bytes
from bench.optimize.base import Context
from bench.suite import expand, parse_suite
from bench.zoo import MODELS, Workload
from bench.zoo.decoders import DECODERS, CausalLM, DecoderArch, conv1d_to_linear


@pytest.mark.parametrize("name, batch", [("gpt2", 1), ("opt-125m", 2), ("smollm2-135m", 1)])
def test_prefill_and_every_decode_step_match_the_closed_form(name, batch):
    spec, arch = MODELS.get(name), DECODERS[name]
    w = Workload(batch, seq_len=8, new_tokens=4)
    ctx = Context(spec, w, spec.inputs(w), "cpu", Path("."), Path("."))
    st = decode_static(spec, spec.build(), ctx)
    assert st["decode_uncounted_ops"] == []
    assert st["prefill_macs"] == arch.prefill_macs(batch, 8) == spec.closed_form_macs(w)
    # Steps at cache lengths 8, 9, 10: each attends to one more key than the last.
    assert st["decode_macs_first"] == arch.decode_macs(batch, 8)
    assert st["decode_macs_last"] == arch.decode_macs(batch, 10)
    assert st["decode_macs_per_token"] == st["decode_macs_per_token_closed_form"] == arch.decode_macs(batch, 9)
    # Attention over the cache is in the count: the last step costs 2 x (2 more keys) x hidden x layers more.
    assert st["decode_macs_last"] - st["decode_macs_first"] == batch * arch.layers * 2 * 2 * arch.hidden


def test_closed_forms_by_hand():
    gpt2 = DECODERS["gpt2"]
    h, L, V = 768, 12, 50257
    assert gpt2.decode_macs(1, 100) == L * (12 * h * h + 2 * 101 * h) + h * V
    assert gpt2.prefill_macs(1, 64) == L * (64 * 12 * h * h + 2 * 64 * 64 * h) + h * V
    llama = DECODERS["smollm2-135m"]  # GQA: K and V are 3 heads of 64, the MLP is gated (3 matrices)
    assert llama.linear_macs_per_token() == 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536
    assert llama.kv_cache_bytes(1, 79) == 2 * 30 * 3 * 64 * 79 * 4
    assert gpt2.kv_cache_bytes(2, 10, bytes_per_value=2) == 2 * 12 * 12 * 64 * 10 * 2 * 2
    assert round(MODELS.get("gpt2").closed_form_params() / 1e6, 1) == 124.4  # GPT-2 small, tied head
    assert round(MODELS.get("gpt2-medium").closed_form_params() / 1e6, 1) == 354.8
    assert round(MODELS.get("opt-125m").closed_form_params() / 1e6, 1) == 125.2
    assert round(MODELS.get("smollm2-135m").closed_form_params() / 1e6, 1) == 134.5


def _tiny_gpt2():
    torch.manual_seed(0)
    return tf.GPT2LMHeadModel(tf.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64)).eval()


def test_conv1d_becomes_an_equivalent_linear_and_quantizes():
    from transformers.pytorch_utils import Conv1D

    from bench.optimize import OPTIMIZATIONS, Artifact

    ref = _tiny_gpt2()
    conv = _tiny_gpt2()
    assert conv1d_to_linear(conv) == 2 * 4  # c_attn, c_proj, c_fc, mlp.c_proj per layer
    assert not any(isinstance(m, Conv1D) for m in conv.modules())
    ids = torch.randint(0, 500, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(conv(input_ids=ids).logits, ref(input_ids=ids).logits, atol=1e-5, rtol=1e-5)
    opt = OPTIMIZATIONS.get("torch-dynamic-int8")
    art = opt.apply(Artifact("torch", module=CausalLM(conv)), opt.parse_params({}), None)
    quantized = [m for m in art.module.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert len(quantized) == 2 * 4 + 1  # every projection, and the LM head


def test_generation_uses_the_cache_and_its_bytes_match():
    model = CausalLM(_tiny_gpt2())
    ids = torch.randint(0, 500, (2, 10))
    syncs = []  # a fake device sync: CUDA timing synchronises before every clock read
    ttft, steps, tokens, cache = generate(model, ids, 5, sync=lambda: syncs.append(1))
    assert ttft > 0 and len(steps) == 4 and all(s > 0 for s in steps)
    assert len(syncs) == 2 + 4
    assert tokens.shape == (2, 5) and cache.get_seq_length() == 10 + 5 - 1
    arch = DecoderArch(layers=2, hidden=64, heads=4, kv_heads=4, ffn=256, vocab=500, max_positions=64)
    assert kv_cache_bytes(cache) == arch.kv_cache_bytes(2, 14) == 2 * 2 * 4 * 16 * 14 * 4 * 2
    # Greedy decoding with the cache gives what a full recomputation gives.
    with torch.no_grad():
        full = model(torch.cat([ids, tokens[:, :-1]], dim=1))
    assert torch.equal(full.argmax(-1), tokens[:, -1])


def test_context_overflow_is_a_clear_error():
    with pytest.raises(ValueError, match="gpt2 has 1024 positions; prompt 1020 \\+ 16 new tokens needs 1035"):
        check_context(MODELS.get("gpt2"), Workload(1, seq_len=1020, new_tokens=16))


SUITE = """
name: dec
models: [gpt2, tinybert-4]
optimizations: [fp32, torch-dynamic-int8, ort-dynamic-int8]
targets:
  - {runtime: torch, device: cpu, threads: 1}
  - {runtime: onnxruntime, device: cpu, threads: 1}
workloads: {seq_lens: [16], prompt_lens: [8], new_tokens: [3]}
measure: {warmup_iters: 1, warmup_s: 0, min_time_s: 0.05, max_time_s: 0.5, min_samples: 5, timeout_s: 300, retries: 0}
"""


def test_plan_skips_decoders_on_onnx_targets_by_declaration():
    plan = expand(parse_suite(SUITE))
    dec = [c for c in plan.cells if c.model == "gpt2"]
    assert {c.workload.label for c in dec} == {"b1-s8-n3"}
    assert [c.optimization for c in dec if c.status == "planned"] == ["fp32", "torch-dynamic-int8"]
    for c in dec:
        if c.target.runtime == "onnxruntime" or c.optimization == "ort-dynamic-int8":
            assert c.status == "skipped"
            assert "onnx-export applies to text, vision models, not decoder models" in c.reason
    # Encoders keep their workloads and their ONNX cells.
    enc = [c for c in plan.cells if c.model == "tinybert-4"]
    assert {c.workload.label for c in enc} == {"b1-s16"} and sum(c.status == "planned" for c in enc) == 4


def test_new_tokens_must_leave_a_decode_step():
    with pytest.raises(UserError, match="new_tokens must be at least 2"):
        parse_suite(SUITE.replace("new_tokens: [3]", "new_tokens: [1]"))


@pytest.mark.slow
def test_decoder_cell_end_to_end(cli, write_suite, tmp_path):
    text = SUITE.replace("gpt2, tinybert-4", "gpt2").replace("ort-dynamic-int8]", "]")
    res = cli("run", write_suite(text), "--results-dir", tmp_path, "--run-id", "dec")
    assert res.returncode == 0, res.stdout + res.stderr
    recs = {r["optimization"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "dec/records").glob("*.json"))
            if r["status"] != "skipped"}
    assert set(recs) == {"fp32", "torch-dynamic-int8"}
    arch = DECODERS["gpt2"]
    for r in recs.values():
        assert r["status"] == "ok", r.get("error")
        assert r["ttft_ms"] > 0 and r["tpot_ms"] > 0 and r["tokens_per_s"] > 0
        assert r["new_tokens"] == 3 and r["seq_len"] == 8 and r["kv_cache_positions"] == 10
        assert r["kv_cache_bytes"] == r["kv_cache_bytes_closed_form"] == 2 * 12 * 12 * 64 * 10 * 4
        assert r["prefill_macs"] == r["macs"] == arch.prefill_macs(1, 8)
        assert r["decode_macs_per_token"] == (arch.decode_macs(1, 8) + arch.decode_macs(1, 9)) / 2
        # The latency fields hold the per-token decode samples: two per generation.
        assert r["n_samples"] == len(r["latency_samples_ms"]) == 2 * r["decode_reps"]
        assert r["latency_ms_p50"] == pytest.approx(r["tpot_ms"])
        assert 0 <= r["greedy_token_agreement"] <= 1
    assert recs["fp32"]["max_abs_err"] == 0 and recs["fp32"]["greedy_token_agreement"] == 1
    q = recs["torch-dynamic-int8"]
    assert q["weight_bytes"] < 0.4 * recs["fp32"]["weight_bytes"] and q["cosine_sim"] > 0.95
