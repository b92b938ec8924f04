"""BERT-family text encoders, from transformers configs (built in bench/zoo/text.py).

All encoders are built without the pooler and return `last_hidden_state`: the pooler is a
fine-tuning head, and leaving it out keeps the cost figures comparable with the published
encoder-only counts.
"""

from __future__ import annotations

from bench.zoo.base import MODELS, ModelSpec, Workload


def _layer_params(h: int, i: int) -> int:
    # Q, K, V, O projections with biases; two LayerNorms; the FFN.
    return 4 * (h * h + h) + 2 * 2 * h + (h * i + i) + (i * h + h)


def _layer_macs(s: int, h: int, i: int) -> int:
    # Linear layers per token (4h^2 + 2hi) plus the two attention matmuls QK^T and AV (2 s^2 h).
    return s * (4 * h * h + 2 * h * i) + 2 * s * s * h


def _bert_like(name, *, layers, hidden, heads, inter, description, teacher=None, vocab=30522, pos=512):
    cfg = dict(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
               intermediate_size=inter, vocab_size=vocab, max_position_embeddings=pos)

    def params():
        emb = (vocab + pos + 2) * hidden + 2 * hidden
        return emb + layers * _layer_params(hidden, inter)

    def macs(w: Workload):
        return w.batch_size * layers * _layer_macs(w.seq_len, hidden, inter)

    MODELS.add(ModelSpec(name, "bert", "text", "bench.zoo.text:bert", params, macs, build_args=cfg, vocab=vocab,
                         default_size=128, description=description, teacher=teacher, config=cfg))


_bert_like("bert-base", layers=12, hidden=768, heads=12, inter=3072,
           description="BERT-base-uncased architecture (Devlin et al., 2019)")
_bert_like("bert-large", layers=24, hidden=1024, heads=16, inter=4096,
           description="BERT-large-uncased architecture (Devlin et al., 2019)")
_bert_like("tinybert-4", layers=4, hidden=312, heads=12, inter=1200, teacher="bert-base",
           description="TinyBERT General 4L-312D (Jiao et al., 2020)")
# The architecture of all-MiniLM-L6-v2 (MiniLM-L6-H384, Wang et al., 2020), to put its real weights
# (suites/your-model.yaml) beside seeded random ones.
_bert_like("minilm-l6", layers=6, hidden=384, heads=12, inter=1536,
           description="MiniLM-L6-H384, all-MiniLM-L6-v2's architecture, seeded random weights (Wang et al., 2020)")


def _distilbert():
    h, i, layers, vocab, pos = 768, 3072, 6, 30522, 512
    cfg = dict(dim=h, hidden_dim=i, n_layers=layers, n_heads=12, vocab_size=vocab, max_position_embeddings=pos)

    def params():
        return (vocab + pos) * h + 2 * h + layers * _layer_params(h, i)

    def macs(w: Workload):
        return w.batch_size * layers * _layer_macs(w.seq_len, h, i)

    MODELS.add(ModelSpec("distilbert", "bert", "text", "bench.zoo.text:distilbert", params, macs, build_args=cfg,
                         vocab=vocab, description="DistilBERT-base-uncased, 6 layers (Sanh et al., 2019)",
                         teacher="bert-base", config=cfg))


def _albert():
    h, i, e, layers, vocab, pos = 768, 3072, 128, 12, 30000, 512
    cfg = dict(hidden_size=h, intermediate_size=i, embedding_size=e, num_hidden_layers=layers,
               num_attention_heads=12, vocab_size=vocab, max_position_embeddings=pos)

    def params():
        emb = (vocab + pos + 2) * e + 2 * e + (e * h + h)
        return emb + _layer_params(h, i)  # one layer's weights, shared by all layers

    def macs(w: Workload):
        return w.batch_size * (w.seq_len * e * h + layers * _layer_macs(w.seq_len, h, i))

    MODELS.add(ModelSpec("albert-base", "bert", "text", "bench.zoo.text:albert", params, macs, build_args=cfg,
                         vocab=vocab, config=cfg,
                         description="ALBERT-base v2 architecture, cross-layer sharing (Lan et al., 2020)"))


# transformers' MobileBertConfig() defaults (google/mobilebert-uncased); tests/test_flops.py checks
# these numbers against the config class, so a transformers release that changed them would say so.
MOBILEBERT = dict(hidden_size=512, intra_bottleneck_size=128, embedding_size=128, intermediate_size=512,
                  num_hidden_layers=24, num_feedforward_networks=4, vocab_size=30522, max_position_embeddings=512,
                  type_vocab_size=2, num_attention_heads=4)


def _mobilebert():
    c = MOBILEBERT
    h, b, e, i, layers = (c["hidden_size"], c["intra_bottleneck_size"], c["embedding_size"], c["intermediate_size"],
                          c["num_hidden_layers"])
    n_ffn, vocab, pos = c["num_feedforward_networks"], c["vocab_size"], c["max_position_embeddings"]

    def lin(n_in, n_out):
        return n_in * n_out + n_out

    def params():
        nonorm = 2  # NoNorm is an elementwise scale and shift
        emb = vocab * e + lin(3 * e, h) + (pos + c["type_vocab_size"]) * h + nonorm * h
        layer = (
            2 * (lin(h, b) + nonorm * b)  # input and shared query/key bottlenecks
            + 2 * lin(b, b) + lin(h, b)  # query, key (from the bottleneck) and value (from h)
            + lin(b, b) + nonorm * b  # attention output
            + (n_ffn - 1) * (lin(b, i) + lin(i, b) + nonorm * b)  # stacked FFNs
            + lin(b, i) + lin(i, b) + nonorm * b  # last FFN
            + lin(b, h) + nonorm * h  # output bottleneck
        )
        return emb + layers * layer

    def macs(w: Workload):
        s = w.seq_len
        per_token = 2 * h * b + 2 * b * b + h * b + b * b + n_ffn * 2 * b * i + b * h
        return w.batch_size * (s * 3 * e * h + layers * (s * per_token + 2 * s * s * b))

    MODELS.add(ModelSpec("mobilebert", "bert", "text", "bench.zoo.text:mobilebert", params, macs, vocab=vocab,
                         description="MobileBERT, 24 bottleneck layers (Sun et al., 2020)",
                         teacher="bert-large", config=dict(c)))


_distilbert()
_albert()
_mobilebert()
