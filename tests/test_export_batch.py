"""ONNX exports traced on one item serve every batch size of the same shape.

survey-gpu's batch-1 and batch-64 ORT cells share one export. That holds only if the traced graph
keeps the batch axis symbolic. All forty survey-gpu models were checked once, and this test keeps
a sample: a ViT, a hybrid with reshapes over its batch (MobileViT), a text encoder with a mask,
and a pruned DeiT (the variant chains of survey-gpu).
"""

import dataclasses

import numpy as np
import pytest
import torch

from bench.optimize import OPTIMIZATIONS
from bench.optimize.export import ExportParams, export_shape
from bench.zoo import Workload
from tests.optimize_helpers import apply_chain, make_ctx, run


def _at_batch(ctx, b, seed=1):
    w = dataclasses.replace(ctx.workload, batch_size=b)
    return dataclasses.replace(ctx, workload=w, inputs=ctx.model.inputs(w, seed))


@pytest.mark.parametrize("model, chain", [
    ("deit-ti", []),
    ("mobilevit-xxs", []),
    ("tinybert-4", []),
    ("deit-ti", [("prune-heads", {"ratio": 0.33}), ("prune-ffn", {"ratio": 0.26})]),
])
def test_a_one_item_export_gives_the_torch_output_at_another_batch(tmp_path, model, chain):
    ctx = _at_batch(make_ctx(model, tmp_path), 3)
    torch_art = apply_chain(ctx, chain)
    with torch.inference_mode():
        want = torch_art.module(**ctx.inputs).float().numpy()
    export = OPTIMIZATIONS.get("onnx-export")
    art = export.apply(torch_art, export.parse_params({}), ctx)
    assert "-b1-" in art.onnx_path.name  # traced on one item, named for it
    got = run(art, ctx)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_batch_1_and_batch_64_cells_share_one_export_file(tmp_path):
    ctx = make_ctx("deit-ti", tmp_path)
    one = apply_chain(ctx, [("onnx-export", {})])
    big = apply_chain(_at_batch(ctx, 64), [("onnx-export", {})])
    assert one.onnx_path == big.onnx_path and len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1


def test_what_is_not_batch_linear_is_traced_at_its_own_shape(tmp_path):
    ctx = _at_batch(make_ctx("tinybert-4", tmp_path), 4)
    w, inputs = export_shape(ctx, ExportParams())
    assert w.batch_size == 1 and all(v.shape[0] == 1 for v in inputs.values())
    ragged = dataclasses.replace(ctx, workload=Workload(4, seq_len=16, real_lengths=(4, 16)))
    assert export_shape(ragged, ExportParams())[0].batch_size == 4  # padding differs per item
    assert export_shape(ctx, ExportParams(exporter="dynamo"))[0].batch_size == 4  # static-shaped export
