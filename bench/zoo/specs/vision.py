"""Vision transformers from timm (built in bench/zoo/vision.py), with exact closed forms."""

from __future__ import annotations

from bench.zoo.base import MODELS, ModelSpec, Workload


def vit(name, timm_name, *, dim, depth, heads, mlp_ratio=4, patch=16, classes=1000, size=224,
        description="", teacher=None):
    hidden = dim * mlp_ratio

    def tokens(side):
        return (side // patch) ** 2

    def params():
        block = 2 * 2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim)
        stem = 3 * patch * patch * dim + dim + dim + (tokens(size) + 1) * dim  # patch conv, cls token, positions
        return stem + depth * block + 2 * dim + dim * classes + classes

    def macs(w: Workload):
        p = tokens(w.image_size)
        n = p + 1
        block = n * (4 * dim * dim + 2 * dim * hidden) + 2 * n * n * dim
        return w.batch_size * (p * dim * 3 * patch * patch + depth * block + dim * classes)

    MODELS.add(ModelSpec(name, "vit", "vision", "bench.zoo.vision:timm_model", params, macs,
                         build_args=dict(timm_name=timm_name, num_classes=classes), default_size=size,
                         description=description, teacher=teacher,
                         config=dict(timm=timm_name, dim=dim, depth=depth, heads=heads,
                                     # timm checks the input is `size` (strict_img_size): the plan skips others
                                     patch=patch, fixed_size=True)))


vit("deit-ti", "deit_tiny_patch16_224", dim=192, depth=12, heads=3,
    description="DeiT-Tiny, 224x224 (Touvron et al., 2021)")
vit("deit-s", "deit_small_patch16_224", dim=384, depth=12, heads=6,
    description="DeiT-Small, 224x224 (Touvron et al., 2021)")
vit("deit-b", "deit_base_patch16_224", dim=768, depth=12, heads=12,
    description="DeiT-Base (= ViT-B/16), 224x224 (Touvron et al., 2021)")
