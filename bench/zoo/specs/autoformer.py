"""AutoFormer-T/S/B (Chen et al., 2021): the searched subnets' configurations and closed forms; the
network is in bench/zoo/autoformer.py."""

from __future__ import annotations

from bench.zoo.base import MODELS, ModelSpec, Workload

HEAD_DIM = 64  # change_qkv: each head is 64 wide whatever the embedding width
MAX_REL = 14  # --max_relative_position default
PATCH = 16
CLASSES = 1000

# experiments/subnet/AutoFormer-{T,S,B}.yaml, RETRAIN section.
CONFIGS = {
    "AutoFormer-T": dict(
        embed_dim=192,
        mlp_ratio=[3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5],
        num_heads=[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3],
    ),
    "AutoFormer-S": dict(
        embed_dim=384,
        mlp_ratio=[3.0, 3.5, 3.0, 3.5, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.5, 4.0],
        num_heads=[6, 6, 5, 7, 5, 5, 5, 6, 6, 7, 7, 6, 7],
    ),
    "AutoFormer-B": dict(
        embed_dim=576,
        mlp_ratio=[3.5, 3.5, 4.0, 3.5, 4.0, 3.5, 3.5, 3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 3.5],
        num_heads=[9, 9, 9, 9, 9, 10, 9, 9, 10, 9, 10, 9, 9, 10],
    ),
}


def _autoformer(name: str, reference: str, size: int = 224):
    cfg = CONFIGS[reference]
    d = cfg["embed_dim"]
    layers = [(h * HEAD_DIM, int(d * r)) for h, r in zip(cfg["num_heads"], cfg["mlp_ratio"])]  # (qkv width, MLP width)

    def params():
        rel = 2 * 2 * (2 * MAX_REL + 2) * HEAD_DIM  # k and v, each a vertical and a horizontal table
        blocks = sum(4 * d + (3 * d * q + 3 * q) + (q * d + d) + (d * f + f) + (f * d + d) + rel for q, f in layers)
        tokens = (size // PATCH) ** 2 + 1
        return 3 * PATCH * PATCH * d + d + d + tokens * d + blocks + 2 * d + d * CLASSES + CLASSES

    def macs(w: Workload):
        p = ((w.image_size or size) // PATCH) ** 2
        n = p + 1
        blocks = sum(n * (3 * d * q + q * d + 2 * d * f) + 4 * n * n * q for q, f in layers)
        return w.batch_size * (p * 3 * PATCH * PATCH * d + blocks + d * CLASSES)

    MODELS.add(ModelSpec(name, "vit-nas", "vision", "bench.zoo.autoformer:autoformer", params, macs, default_size=size,
                         build_args=dict(**cfg, img_size=size),
                         description=f"{reference}, searched subnet with 2-D relative position, 224x224 (Chen et al., 2021)",
                         config=dict(reference=reference, dim=d, depth=len(layers), heads=list(cfg["num_heads"]),
                                     mlp_ratio=list(cfg["mlp_ratio"]), head_dim=HEAD_DIM,
                                     relative_position=True, global_pool=True,
                                     source="AutoFormer experiments/subnet YAMLs, model/supernet_transformer.py",
                                     patch=PATCH, fixed_size=True)))  # pos_embed of (size/16)^2 + 1 tokens


_autoformer("autoformer-t", "AutoFormer-T")
_autoformer("autoformer-s", "AutoFormer-S")
_autoformer("autoformer-b", "AutoFormer-B")
