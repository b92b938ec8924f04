"""Measured task accuracy of a cell: the artifact that ran, on its own device, over the suite's data.

A cell's evaluation is its own phase, after timing and the probe, so it never overlaps a timed
sample (its seconds are the record's `eval_s`). The examples are preprocessed with the model's
own tokenizer or image transform, at the cell's workload shape (sequence length or image side),
in batches of the workload's batch size (the last one filled up by repeating its final example,
whose extra outputs are dropped), so an ONNX graph exported at that shape runs them unchanged.

The fp32 baseline is the model as built (torch eager on the CPU; an ONNX file on ONNX Runtime's
CPU provider), evaluated once per run on the same batches and cached in the run, like the
fidelity reference. Every cell is then compared with it example by example: McNemar's exact
test for classification, a paired bootstrap for perplexity and embedding similarity, each with a
verdict (bench.evaluate.stats).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

# What each model task measures, and whether a bigger number is better.
METRICS = {"text-classification": "accuracy", "image-classification": "accuracy",
           "feature-extraction": "embedding_cosine_to_fp32", "causal-lm": "perplexity"}
DATA_KIND = {"text": "texts", "vision": "images", "decoder": "stream"}


def applicable(spec, evaluation) -> str:
    """Why a model's accuracy cannot be measured on the suite's data ("" when it can)."""
    if evaluation is None:
        return "the suite declares no evaluation data"
    if spec.weights is None:
        return "a zoo model has seeded random weights: its task accuracy means nothing (fidelity is measured)"
    return ""


def model_task(spec) -> str:
    return spec.config.get("task") or {"vision": "image-classification", "decoder": "causal-lm"}.get(
        spec.modality, "feature-extraction")


def _tokenizer(spec):
    from transformers import AutoTokenizer

    path = (spec.weights or {}).get("path")
    if not path or not Path(path).is_dir():
        raise ValueError(f"{spec.name} has no tokenizer files to preprocess text with")
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def _image_transform(spec, module, size: int):
    """The model's own preprocessing at `size`: timm's data config, or the HF image processor."""
    kind = (spec.weights or {}).get("kind")
    if kind == "timm" or kind == "factory":
        import timm.data

        net = getattr(module, "net", module)
        cfg = timm.data.resolve_data_config({"input_size": (3, size, size)}, model=net)
        cfg["crop_pct"] = 1.0  # the workload's side is the input's side
        tf = timm.data.create_transform(**cfg)
        return lambda img: tf(img.convert("RGB"))
    from transformers import AutoImageProcessor

    proc = AutoImageProcessor.from_pretrained(spec.weights["path"], local_files_only=True)

    def apply(img):
        out = proc(img.convert("RGB"), return_tensors="pt", size={"height": size, "width": size})
        return out["pixel_values"][0]

    return apply


def batches(spec, module, data, workload) -> tuple[list[dict], int]:
    """The data as model inputs: batches of the workload's shape, and how many examples are real."""
    import torch

    b = workload.batch_size
    if spec.modality == "vision":
        from PIL import Image

        tf = _image_transform(spec, module, workload.image_size)
        items = [tf(Image.open(p)) for p in data.images]
        tensors = {"pixel_values": torch.stack(items)}
    elif spec.modality == "text":
        tok = _tokenizer(spec)
        enc = tok(list(data.texts), padding="max_length", truncation=True, max_length=workload.seq_len,
                  return_tensors="pt")
        tensors = {"input_ids": enc["input_ids"].long(), "attention_mask": enc["attention_mask"].long()}
    else:  # a decoder: the text as consecutive windows of the workload's sequence length
        tok = _tokenizer(spec)
        ids = torch.tensor(tok(data.texts[0])["input_ids"], dtype=torch.long)
        n = len(ids) // workload.seq_len
        if n == 0:
            raise ValueError(f"the text has {len(ids)} tokens, fewer than one window of {workload.seq_len}")
        tensors = {"input_ids": ids[: n * workload.seq_len].view(n, workload.seq_len)}
    n = next(iter(tensors.values())).shape[0]
    out = []
    for start in range(0, n, b):
        chunk = {k: v[start:start + b] for k, v in tensors.items()}
        short = b - next(iter(chunk.values())).shape[0]
        if short:
            chunk = {k: torch.cat([v, v[-1:].expand(short, *v.shape[1:])]) for k, v in chunk.items()}
        out.append(chunk)
    return out, n


def _nll(module, batch: dict, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence summed next-token negative log-likelihood (nats) and token counts, from the
    causal LM inside the decoder wrapper (whose own forward returns the last position only)."""
    import torch

    lm = getattr(module, "lm", module)
    ids = batch["input_ids"].to(device)
    with torch.inference_mode():
        logits = lm(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, ids[:, 1:, None])[..., 0]
    return nll.sum(1).cpu().numpy().astype(np.float64), np.full(ids.shape[0], ids.shape[1] - 1, dtype=np.int64)


def _outputs(predict, module, spec, batch_list, n, device) -> dict[str, np.ndarray]:
    """Per-example raw results: scores (classification), embeddings (feature extraction) or NLL."""
    task = model_task(spec)
    parts: dict[str, list] = {}
    for batch in batch_list:
        if task == "causal-lm":
            nll, tok = _nll(module, batch, device)
            parts.setdefault("nll", []).append(nll)
            parts.setdefault("tokens", []).append(tok)
            continue
        y = np.asarray(predict(batch), dtype=np.float32)
        if task == "feature-extraction":  # mean over real tokens: sentence-transformers' pooling
            mask = batch["attention_mask"].numpy()[..., None].astype(np.float32)
            y = (y * mask).sum(1) / np.maximum(mask.sum(1), 1)
        parts.setdefault("scores", []).append(y)
    return {k: np.concatenate(v)[:n] for k, v in parts.items()}


def data_key(spec, data, workload) -> str:
    raw = f"{spec.name}|{data.sha256}|{data.n}|{workload.label}"
    return f"{spec.name}-{workload.label}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def baseline(spec, module, data, workload, cache: Path, seed: int) -> dict[str, np.ndarray]:
    """The fp32 model's per-example results on the data, once per run (the model as built, on CPU)."""
    from bench.fsio import atomic_write

    path = Path(cache) / "accuracy" / f"{data_key(spec, data, workload)}.npz"
    if path.exists():
        with np.load(path) as z:
            return dict(z)
    if spec.artifact_kind == "onnx":
        import onnxruntime as ort

        from bench.runtime.ort import predictor

        predict = predictor(ort.InferenceSession(spec.onnx_path, providers=["CPUExecutionProvider"]))
        ref_module = None
    else:
        import torch

        ref_module = module if module is not None else spec.build(seed)

        def predict(batch):
            with torch.inference_mode():
                return ref_module(**batch).float().numpy()
    batch_list, n = batches(spec, ref_module, data, workload)
    out = _outputs(predict, ref_module, spec, batch_list, n, "cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez(tmp, **out))
    return out


def score(spec, data, labels: list[int] | None, cell_out: dict, base_out: dict) -> dict[str, Any]:
    """Record fields: the metric with its interval, and the paired change against fp32."""
    from bench.evaluate import stats

    task = model_task(spec)
    metric = METRICS[task]
    fields: dict[str, Any] = {"accuracy_metric": metric, "accuracy_source": "measured"}
    if task.endswith("classification"):
        y = np.asarray(labels)
        mine = stats.classification_metrics(cell_out["scores"], y)
        ref = stats.classification_metrics(base_out["scores"], y)
        test = stats.mcnemar(ref["correct"], mine["correct"])
        delta = stats.paired_bootstrap(ref["correct"].astype(float), mine["correct"].astype(float))
        lo, hi = mine["accuracy_ci"]
        fields.update(accuracy=mine["accuracy"], accuracy_n=mine["n"], accuracy_ci_low=lo, accuracy_ci_high=hi,
                      accuracy_p_value=test["p_value"], accuracy_test=test["test"],
                      accuracy_metrics={"top1": mine["accuracy"], "top5": mine["top5"], "f1_macro": mine["f1_macro"],
                                        "fp32_top1": ref["accuracy"], "discordant_fp32_only": test["b"],
                                        "discordant_cell_only": test["c"]})
        p = test["p_value"]
    elif task == "causal-lm":
        mine = stats.perplexity(cell_out["nll"], cell_out["tokens"])
        delta = stats.paired_perplexity(base_out["nll"], base_out["tokens"], cell_out["nll"], cell_out["tokens"])
        lo, hi = mine["ci"]
        fields.update(accuracy=mine["perplexity"], accuracy_n=mine["n"], accuracy_ci_low=lo, accuracy_ci_high=hi,
                      accuracy_test=delta["test"], accuracy_metrics={"tokens": mine["tokens"]})
        # Lower perplexity is better: the verdict reads the negated change.
        delta = {**delta, "delta": delta["delta"], "better": (-delta["ci_high"], -delta["ci_low"], -delta["delta"])}
        p = None
    else:  # feature extraction: each embedding against the fp32 model's, which scores 1 against itself
        a, r = cell_out["scores"], base_out["scores"]
        cos = (a * r).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1), 1e-30)
        # To 1e-6: an identical embedding gives 1 +- a few float32 ulps, which a paired bootstrap of
        # identical values would otherwise call a significant change.
        cos = np.round(cos, 6)
        lo, hi = stats.bootstrap_interval(cos)
        delta = stats.paired_bootstrap(np.ones_like(cos), cos)
        fields.update(accuracy=float(cos.mean()), accuracy_n=int(cos.size), accuracy_ci_low=lo, accuracy_ci_high=hi,
                      accuracy_test=delta["test"], accuracy_metrics={"worst_cosine": float(cos.min())})
        p = None
    lo_d, hi_d, d = delta.get("better", (delta["ci_low"], delta["ci_high"], delta["delta"]))
    fields.update(accuracy_delta_vs_fp32=delta["delta"], accuracy_delta_ci_low=delta["ci_low"],
                  accuracy_delta_ci_high=delta["ci_high"],
                  accuracy_verdict=stats.verdict(lo_d, hi_d, p_value=p, delta=d),
                  accuracy_data=f"{data.source} ({data.format}, sha256 {data.sha256[:12]})")
    return fields


def load(prep):
    """The cell's evaluation data and labels, or a note saying why it has none."""
    from bench.evaluate.data import EvalSpec, check_labels, load_eval_data

    spec, cell = prep.spec, prep.cell
    why = applicable(spec, cell.evaluation)
    if why:
        return None, None, why
    task = model_task(spec)
    data = load_eval_data(EvalSpec(**cell.evaluation), Path(cell.suite_dir) if cell.suite_dir else None,
                          need_labels=task.endswith("classification"))
    if data.kind != DATA_KIND[spec.modality]:
        return None, None, (f"the evaluation data holds {data.kind}; a {spec.modality} model needs "
                            f"{DATA_KIND[spec.modality]}")
    labels = None
    if task.endswith("classification"):
        labels = check_labels(data, spec.config.get("num_classes"), spec.config.get("label_names"))
    return data, labels, ""


def prepare_baseline(prep) -> None:
    """Evaluate the fp32 model while it is still as built (before any step edits it), once per run."""
    data, _, why = load(prep)
    if not why:
        baseline(prep.spec, prep.module, data, prep.cell.workload, prep.ctx.cache, prep.cell.measure.seed)


def evaluate(prep, opt, session) -> dict[str, Any]:
    """The cell's accuracy fields (or a note on why there are none), and `eval_s`."""
    t = time.perf_counter()
    spec, cell = prep.spec, prep.cell
    data, labels, why = load(prep)
    if why:
        return {"accuracy_note": why}
    task = model_task(spec)
    if session.predict is None and task != "causal-lm":
        return {"accuracy_note": f"runtime {cell.target.runtime} cannot run other inputs"}
    base_out = baseline(spec, None, data, cell.workload, prep.ctx.cache, cell.measure.seed)
    module = opt.artifact.module if opt.artifact.kind == "torch" else None
    batch_list, n = batches(spec, module, data, cell.workload)
    cell_out = _outputs(session.predict, module, spec, batch_list, n, cell.target.device)
    fields = score(spec, data, labels, cell_out, base_out)
    fields["eval_s"] = time.perf_counter() - t
    return fields
