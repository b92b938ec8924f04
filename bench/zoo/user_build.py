"""Builders for user models (declared in bench/zoo/user.py), imported when a cell builds one.

Every builder returns a module with the zoo's calling convention, so the runtimes, the counters
and the structural optimizations treat a user model like a zoo one: text models take
`input_ids, attention_mask` and return one tensor (the last hidden state for feature extraction,
logits for classification), vision models take `pixel_values` and return logits, causal LMs take
`input_ids, cache=None` and return the last position's logits (bench.zoo.decoders.CausalLM).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from bench.errors import UserError


class TextModel(torch.nn.Module):
    """An HF text model behind the zoo's text signature. `encoder` is the HF model itself, so
    bench.optimize.arch finds a BertModel inside (through `base_model` for a classifier)."""

    def __init__(self, hf: torch.nn.Module, logits: bool):
        super().__init__()
        self.encoder = hf
        self.logits = logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return out.logits if self.logits else out.last_hidden_state


class ImageModel(torch.nn.Module):
    def __init__(self, hf: torch.nn.Module):
        super().__init__()
        self.encoder = hf

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=pixel_values).logits


def hf_model(path: str, task: str) -> torch.nn.Module:
    """The model in `path` (a local directory: hub ids were resolved to their snapshot at plan time)."""
    import transformers as tf

    kw = {"local_files_only": True}
    if task == "feature-extraction":
        return TextModel(tf.AutoModel.from_pretrained(path, **kw), logits=False)
    if task == "text-classification":
        return TextModel(tf.AutoModelForSequenceClassification.from_pretrained(path, **kw), logits=True)
    if task == "image-classification":
        return ImageModel(tf.AutoModelForImageClassification.from_pretrained(path, **kw))
    if task == "causal-lm":
        from bench.zoo.decoders import CausalLM

        return CausalLM(tf.AutoModelForCausalLM.from_pretrained(path, **kw))
    raise ValueError(f"unknown task {task!r}")


def timm_model(name: str, checkpoint: str | None = None, pretrained_dir: str | None = None,
               num_classes: int | None = None) -> torch.nn.Module:
    import timm

    from bench.zoo.vision import Logits

    kw = {"num_classes": num_classes} if num_classes else {}
    if pretrained_dir:  # the hub snapshot resolved at plan time, read from disk
        files = sorted(Path(pretrained_dir).glob("*.safetensors")) or sorted(Path(pretrained_dir).glob("*.bin"))
        return Logits(timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(files[0])}, **kw))
    return Logits(timm.create_model(name, pretrained=False, checkpoint_path=checkpoint or "", **kw))


# --- factories ----------------------------------------------------------------------------------------

def _call_factory(target: str, search_path: str | None):
    from bench.registry import load
    from bench.zoo.user import add_search_path

    add_search_path(search_path)
    out = load(target)()
    module, info = (out if isinstance(out, tuple) else (out, {}))
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"returned a {type(module).__name__}, not a torch.nn.Module (or a (module, info) pair)")
    return module, dict(info or {})


def factory_model(target: str, search_path: str | None = None) -> torch.nn.Module:
    return _call_factory(target, search_path)[0]


def state_sha256(module: torch.nn.Module) -> str:
    """A digest of the weights themselves (name, dtype, shape, bytes), for models with no weight file."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def factory_facts(decl, search_path: str | None) -> dict:
    """Call the factory once at plan time: what it returns says the model's modality and inputs."""
    try:
        torch.manual_seed(0)
        module, info = _call_factory(decl.factory, search_path)
    except Exception as e:  # noqa: BLE001 - the user's code: any failure is bad input, in one line
        msg = str(e).splitlines()[0][:300] if str(e) else ""
        raise UserError(f"model factory {decl.factory!r} failed: {type(e).__name__}: {msg}") from None
    modality = decl.modality or info.get("modality")
    if modality not in ("text", "vision", "decoder"):
        raise UserError(f"model factory {decl.factory!r}: say its modality (text, vision or decoder) with "
                        "`modality:` in the suite or a 'modality' key in what it returns.")
    vocab = decl.vocab or info.get("vocab")
    if modality in ("text", "decoder") and not vocab and not info.get("inputs"):
        raise UserError(f"model factory {decl.factory!r}: a {modality} model needs `vocab:` (token ids are drawn "
                        "below it) or its own 'inputs' function.")
    size = decl.image_size or info.get("image_size") or 224
    return {"family": str(info.get("family") or "factory"), "modality": modality,
            "task": info.get("task") or {"vision": "image-classification", "decoder": "causal-lm"}.get(modality,
                                                                                                     "feature-extraction"),
            "vocab": vocab, "default_size": int(size) if modality == "vision" else 128,
            "inputs_fn": info.get("inputs"), "num_classes": decl.num_classes or info.get("num_classes"),
            "state_sha256": state_sha256(module), "config": {"factory": decl.factory}}


# --- ONNX files ---------------------------------------------------------------------------------------

def onnx_facts(path: Path, decl) -> dict:
    """Load and check the file; its inputs say the modality (input_ids: text, pixel_values: vision)."""
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - protobuf, checker and OS errors alike: the file is unusable
        raise UserError(f"ONNX file {str(path)!r} cannot be loaded: {type(e).__name__}: "
                        f"{str(e).splitlines()[0][:300] if str(e) else 'no detail'}") from None
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    modality = decl.modality or ("text" if "input_ids" in names else "vision" if "pixel_values" in names else None)
    if modality is None or (modality == "text" and "input_ids" not in names) or \
            (modality == "vision" and "pixel_values" not in names):
        raise UserError(f"ONNX file {str(path)!r} takes inputs {names}; the suite runs text models with input_ids "
                        "(and attention_mask) and vision models with pixel_values. Rename the inputs when exporting.")
    if modality == "decoder":
        raise UserError(f"ONNX file {str(path)!r}: decoders are timed per phase with a KV cache in torch; "
                        "an ONNX decoder cannot run here.")
    vocab, size = decl.vocab, decl.image_size
    if modality == "text" and vocab is None:  # the embedding table that input_ids index
        tables = {i.name: i.dims for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == "input_ids" \
                    and node.input[0] in tables:
                vocab = int(tables[node.input[0]][0])
        if vocab is None:
            raise UserError(f"ONNX file {str(path)!r}: give `vocab:` (token ids are drawn below it); "
                            "the file does not show its embedding table.")
    if modality == "vision" and size is None:
        dims = next(i for i in model.graph.input if i.name == "pixel_values").type.tensor_type.shape.dim
        size = dims[-1].dim_value if len(dims) == 4 and dims[-1].dim_value else 224
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    classes = out_dims[-1].dim_value if modality == "vision" and out_dims and out_dims[-1].dim_value else None
    return {"modality": modality, "task": "image-classification" if modality == "vision" else "feature-extraction",
            "vocab": vocab, "default_size": int(size) if modality == "vision" else 128,
            "num_classes": decl.num_classes or classes, "config": {"onnx_inputs": names}}
