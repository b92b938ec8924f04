"""T2T-ViT-7/12/14 (Yuan et al., 2021): specs and closed forms; the network, with what it shares
with the official code and what differs, is in bench/zoo/t2t_vit.py."""

from __future__ import annotations

from bench.zoo.base import MODELS, ModelSpec, Workload

TOKEN_DIM = 64  # the T2T module's channel width (`token_dim`)
KERNEL_RATIO = 0.5  # Performer random features per channel
CLASSES = 1000


def _splits(side: int) -> tuple[int, int, int]:
    """Tokens after each soft split: unfold 7/4/2, then 3/2/1 twice."""
    s0 = (side + 4 - 7) // 4 + 1
    s1 = (s0 + 2 - 3) // 2 + 1
    s2 = (s1 + 2 - 3) // 2 + 1
    return s0 * s0, s1 * s1, s2 * s2


def _performer_params(dim: int, emb: int = TOKEN_DIM) -> int:
    m = int(emb * KERNEL_RATIO)
    # norm1; kqv; proj; norm2; MLP; frozen random features w
    return 2 * dim + (dim * 3 * emb + 3 * emb) + (emb * emb + emb) + 2 * emb + 2 * (emb * emb + emb) + m * emb


def _performer_macs(tokens: int, dim: int, emb: int = TOKEN_DIM) -> int:
    m = int(emb * KERNEL_RATIO)
    # kqv; random features of k and q; normaliser; phi(k)^T v; phi(q) (phi(k)^T v); proj; MLP
    return tokens * (dim * 3 * emb + 2 * emb * m + m + emb * m + m * emb + emb * emb + 2 * emb * emb)


def _t2t_vit(name: str, reference: str, *, dim: int, depth: int, heads: int, mlp_ratio: float, size: int = 224):
    hidden = int(dim * mlp_ratio)
    t0 = 3 * 7 * 7
    t1 = TOKEN_DIM * 3 * 3

    def params():
        t2t = _performer_params(t0) + _performer_params(t1) + t1 * dim + dim
        block = 4 * dim + 3 * dim * dim + (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim)
        patches = (size // 16) ** 2
        return t2t + dim + (patches + 1) * dim + depth * block + 2 * dim + dim * CLASSES + CLASSES

    def macs(w: Workload):
        n0, n1, p = _splits(w.image_size or size)
        n = p + 1
        t2t = _performer_macs(n0, t0) + _performer_macs(n1, t1) + p * t1 * dim
        block = n * (4 * dim * dim + 2 * dim * hidden) + 2 * n * n * dim
        return w.batch_size * (t2t + depth * block + dim * CLASSES)

    MODELS.add(ModelSpec(name, "vit-hybrid", "vision", "bench.zoo.t2t_vit:t2t_vit", params, macs, default_size=size,
                         build_args=dict(embed_dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, img_size=size),
                         description=f"{reference}, Performer T2T module, 224x224 (Yuan et al., 2021)",
                         config=dict(reference=reference, dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                                     tokens_type="performer", source="yitu-opensource/T2T-ViT models/t2t_vit.py",
                                     patch=16, fixed_size=True)))  # soft splits 4x2x2; pos_embed of (size/16)^2 + 1


_t2t_vit("t2t-vit-7", "T2T-ViT-7", dim=256, depth=7, heads=4, mlp_ratio=2.0)
_t2t_vit("t2t-vit-12", "T2T-ViT-12", dim=256, depth=12, heads=4, mlp_ratio=2.0)
_t2t_vit("t2t-vit-14", "T2T-ViT-14", dim=384, depth=14, heads=6, mlp_ratio=3.0)
