"""Decoder-only language models: shapes, closed forms and specs (built in bench/zoo/decoders.py).

Generation has two phases with different costs, so a decoder declares both: the prefill of a
P-token prompt (compute-bound, P tokens at once) and one decode step at cache length t
(memory-bound: every weight is read for one token, and attention reads the whole KV cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.zoo.base import MODELS, ModelSpec, Workload


@dataclass(frozen=True)
class DecoderArch:
    """The shape numbers the closed forms need (fp32 unless the KV dtype is given)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int  # FFN width; for a gated (SwiGLU) MLP the width of each of gate and up
    vocab: int
    max_positions: int
    gated_mlp: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_macs_per_token(self) -> int:
        """Q, O (h x h), K, V (h x kv_dim) and the MLP (2 or 3 matrices of h x ffn), per layer."""
        h = self.hidden
        mlp = (3 if self.gated_mlp else 2) * h * self.ffn
        return 2 * h * h + 2 * h * self.kv_dim + mlp

    def prefill_macs(self, batch: int, prompt: int) -> int:
        """Prompt of P tokens: linears for every token, QK^T and AV over the full P x P score
        matrix (the dense kernel computes the masked half too), LM head on the last position."""
        h = self.hidden
        per_layer = prompt * self.linear_macs_per_token() + 2 * prompt * prompt * h
        return batch * (self.layers * per_layer + h * self.vocab)

    def decode_macs(self, batch: int, cached: int) -> int:
        """One new token with `cached` positions in the KV cache: it attends to cached + 1 keys
        (QK^T and AV, each heads x head_dim = h MACs per key), plus the LM head."""
        h = self.hidden
        per_layer = self.linear_macs_per_token() + 2 * (cached + 1) * h
        return batch * (self.layers * per_layer + h * self.vocab)

    def kv_cache_bytes(self, batch: int, positions: int, bytes_per_value: int = 4) -> int:
        """K and V for every layer: 2 x layers x kv_heads x head_dim x positions x bytes, per sequence."""
        return 2 * self.layers * self.kv_heads * self.head_dim * positions * bytes_per_value * batch


DECODERS: dict[str, DecoderArch] = {}


def _register(name: str, arch: DecoderArch, build: str, build_args: dict, params: int, description: str):
    DECODERS[name] = arch

    def macs(w: Workload) -> int:
        return arch.prefill_macs(w.batch_size, w.seq_len)

    MODELS.add(ModelSpec(name, "decoder", "decoder", build, lambda: params, macs, build_args=build_args,
                         vocab=arch.vocab, default_size=64, description=description,
                         config={**build_args, "max_positions": arch.max_positions}))


def _ln(h: int) -> int:
    return 2 * h


def _gpt2(name, *, layers, hidden, heads, description):
    cfg = dict(n_layer=layers, n_embd=hidden, n_head=heads, vocab_size=50257, n_positions=1024)
    arch = DecoderArch(layers, hidden, heads, heads, 4 * hidden, 50257, 1024)
    h, i = hidden, 4 * hidden
    layer = 2 * _ln(h) + (h * 3 * h + 3 * h) + (h * h + h) + (h * i + i) + (i * h + h)
    params = (50257 + 1024) * h + layers * layer + _ln(h)  # LM head tied to the token embedding
    _register(name, arch, "bench.zoo.decoders:gpt2", cfg, params, description)


_gpt2("gpt2", layers=12, hidden=768, heads=12,
      description="GPT-2 small, 124M (Radford et al., 2019); Conv1D converted to nn.Linear")
_gpt2("gpt2-medium", layers=24, hidden=1024, heads=16,
      description="GPT-2 medium, 355M (Radford et al., 2019); Conv1D converted to nn.Linear")

# transformers' default OPTConfig is facebook/opt-125m; tests/test_decoders.py checks these numbers
# against it.
OPT_125M = dict(hidden_size=768, ffn_dim=3072, num_hidden_layers=12, num_attention_heads=12, vocab_size=50272,
                max_position_embeddings=2048)


def _opt125m():
    c = OPT_125M
    h, i, layers, vocab, pos = (c["hidden_size"], c["ffn_dim"], c["num_hidden_layers"], c["vocab_size"],
                                c["max_position_embeddings"])
    arch = DecoderArch(layers, h, c["num_attention_heads"], c["num_attention_heads"], i, vocab, pos)
    layer = 4 * (h * h + h) + 2 * _ln(h) + (h * i + i) + (i * h + h)
    params = vocab * h + (pos + 2) * h + layers * layer + _ln(h)  # learned positions carry an offset of 2
    _register("opt-125m", arch, "bench.zoo.decoders:opt", dict(c), params, "OPT-125m (Zhang et al., 2022)")


def _smollm2():
    # HuggingFaceTB/SmolLM2-135M config.json: a Llama architecture (RMSNorm, SwiGLU, RoPE, GQA 9:3).
    cfg = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
               num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192, rope_theta=100000.0,
               rms_norm_eps=1e-5, tie_word_embeddings=True, hidden_act="silu")
    h, i, layers, vocab = 576, 1536, 30, 49152
    arch = DecoderArch(layers, h, 9, 3, i, vocab, 8192, gated_mlp=True)
    layer = 2 * h * h + 2 * h * arch.kv_dim + 3 * h * i + 2 * h  # no biases; two RMSNorm scales
    params = vocab * h + layers * layer + h  # tied LM head; final RMSNorm
    _register("smollm2-135m", arch, "bench.zoo.decoders:llama", cfg, params,
              "Llama architecture at SmolLM2-135M's configuration (RMSNorm, SwiGLU, RoPE, GQA 9 query / 3 KV heads)")


_opt125m()
_smollm2()
