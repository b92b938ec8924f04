"""The suite's evaluation data: which examples, in which order, with which labels.

Every cell of a run evaluates the same examples in the same order, so the fp32 model's results
pair with each cell's example by example. The order is therefore fixed by the files alone (sorted
names, the file's own row order) and `limit` keeps the first N of it; the digest of the files
identifies the data in the record and keys the cached fp32 results.

Reading needs no torch and no `datasets` package: a dataset saved with `save_to_disk` is Arrow IPC
stream files and two JSON files, which pyarrow reads. Images are only listed here; they are
opened with the model's own transform when the cell runs.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
DIRECTORY_FORMATS = ("imagefolder", "datasets")
# What `datasets.Dataset.save_to_disk` (the first two) and `DatasetDict.save_to_disk` write.
DATASETS_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
FORMAT_HINT = "set `evaluation.format` to imagefolder, jsonl, csv, parquet, datasets or text"
INTEGER = re.compile(r"[+-]?\d+")


class EvalSpec(BaseModel):
    """The suite's `evaluation:` block."""

    model_config = ConfigDict(extra="forbid")
    data: str = Field(min_length=1)  # absolute, or relative to the suite's directory (then the cwd)
    format: Literal["auto", "imagefolder", "jsonl", "csv", "parquet", "datasets", "text"] = "auto"
    text_column: str = "text"
    label_column: str = "label"
    split: str | None = None  # of a saved DatasetDict; default test, else validation, else the first
    limit: int | None = Field(500, ge=1)  # the first N examples; None for all
    batch_size: int | None = Field(None, ge=1)


@dataclass(frozen=True)
class EvalData:
    """Examples ready for a model's preprocessing.

    kind: "texts" (one string per example), "images" (one file per example) or "stream" (a text
    format: `texts` holds the whole file as one string, which the caller cuts into windows).
    labels: class ids, or indices into `label_names` when the data names its classes.
    source: the resolved path read; for a DatasetDict, the chosen split's directory.
    sha256: of the files the examples came from, names included (see `load_eval_data`).
    """

    kind: Literal["images", "texts", "stream"]
    texts: list[str] | None
    images: list[str] | None
    labels: list[int] | None
    label_names: list[str] | None
    source: str
    format: str
    sha256: str
    n: int


def _resolve(raw: str, base: Path | None) -> Path:
    p = Path(raw).expanduser()
    candidates = [p] if p.is_absolute() else [*([base / p] if base else []), Path.cwd() / p]
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        raise UserError(f"Evaluation data {raw!r} does not exist (looked for {str(candidates[0])!r}); "
                        "fix `evaluation.data` in the suite.")
    return path.resolve()


def _class_dirs(root: Path) -> list[Path]:
    """The class folders of an image folder: every subfolder, sorted by name as torchvision's
    ImageFolder sorts them (so label i is the i-th name), except hidden ones (.ipynb_checkpoints)."""
    return sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)


def _detect(path: Path) -> str:
    if path.is_dir():
        if any((path / m).is_file() for m in DATASETS_MARKERS):
            return "datasets"
        for d in _class_dirs(path):
            if any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in d.iterdir()):
                return "imagefolder"
        raise UserError(f"Cannot tell the format of evaluation data {str(path)!r}: the folder holds neither "
                        "subfolders of images (one per class) nor a dataset saved by `datasets` "
                        f"(dataset_info.json or dataset_dict.json); {FORMAT_HINT}.")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"Cannot tell the format of evaluation data {str(path)!r} from its name; name it .jsonl, "
                        f".csv, .parquet or .txt, or {FORMAT_HINT}.")
    return fmt


def _sha256(files: list[Path], root: Path, header: str = "") -> str:
    """One digest over `header` and the files in sorted order: each one's name relative to `root`,
    its size and its bytes, so a renamed, moved or edited file changes it."""
    h = hashlib.sha256(header.encode())
    for name, f in sorted((f.relative_to(root).as_posix(), f) for f in files):
        h.update(f"\0{name}\0{f.stat().st_size}\0".encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _load_images(root: Path, limit: int | None) -> EvalData:
    """Round-robin over the classes (the first image of each class, then the second, ...), so a
    limit below the folder's size keeps as many classes as it can instead of the first few whole
    classes; within a class, images in sorted path order. The digest covers the class names
    (they fix the label indices) and the images chosen."""
    classes = _class_dirs(root)
    per_class = [_images_in(d) for d in classes]
    if not any(per_class):
        raise UserError(f"Evaluation image folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}) in "
                        "class subfolders; give a folder with one subfolder of images per class.")
    if empty := [d.name for d, files in zip(classes, per_class) if not files]:
        raise UserError(f"Class folder {str(root / empty[0])!r} of the evaluation images holds no images; remove "
                        "it or add its images, since the sorted folder names number the classes.")
    order = [(label, files[i]) for i in range(max(map(len, per_class)))
             for label, files in enumerate(per_class) if i < len(files)][:limit]
    names = [d.name for d in classes]
    return EvalData(kind="images", texts=None, images=[str(f) for _, f in order], labels=[label for label, _ in order],
                    label_names=names, source=str(root), format="imagefolder", n=len(order),
                    sha256=_sha256([f for _, f in order], root, header="\n".join(names)))


def _read_jsonl(path: Path, limit: int | None) -> dict[str, list]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if limit is not None and len(rows) == limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"Line {number} of evaluation data {str(path)!r} is not JSON ({e.msg}); "
                                "give one JSON object per line.") from None
            if not isinstance(row, dict):
                raise UserError(f"Line {number} of evaluation data {str(path)!r} is a JSON {type(row).__name__}, not "
                                "an object; give one object per line, such as {\"text\": ..., \"label\": ...}.")
            rows.append(row)
    names = list(dict.fromkeys(k for row in rows for k in row))
    return {k: [row.get(k) for row in rows] for k in names}


def _read_csv(path: Path, limit: int | None) -> dict[str, list]:
    """Every cell a string (a text "NA" stays "NA"); a label column of integers is read as ids."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(itertools.islice(reader, limit))
        names = list(reader.fieldnames or [])
    columns = {k: [row.get(k) for row in rows] for k in names}
    for k, values in columns.items():
        if values and all(v is not None and INTEGER.fullmatch(v.strip()) for v in values):
            columns[k] = [int(v) for v in values]
    return columns


def _unreadable(path: Path, fmt: str, e: Exception) -> UserError:
    return UserError(f"Cannot read evaluation data {str(path)!r} as {fmt} ({e}); check the file or set "
                     "`evaluation.format`.")


def _arrow_columns(tables: list, limit: int | None) -> dict[str, list]:
    import pyarrow as pa

    return pa.concat_tables(tables).slice(0, limit).to_pydict()


def _read_parquet(path: Path, limit: int | None) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return _arrow_columns([pq.read_table(path)], limit)
    except pa.ArrowException as e:
        raise _unreadable(path, "parquet", e) from None


def _datasets_split(root: Path, split: str | None) -> Path:
    """The directory of the split to read: `split`, else test, else validation, else the first."""
    listing = root / "dataset_dict.json"
    if not listing.is_file():
        if split is not None:
            raise UserError(f"Evaluation data {str(root)!r} is a single saved Dataset, not a DatasetDict with "
                            f"splits; remove `evaluation.split` ({split!r}).")
        return root
    splits = list(_read_json(listing).get("splits") or [])
    if not splits:
        raise UserError(f"{str(listing)!r} lists no splits; save the dataset again with `save_to_disk`.")
    chosen = split or next((s for s in ("test", "validation") if s in splits), splits[0])
    if chosen not in splits:
        raise UserError(f"Evaluation data {str(root)!r} has no split {split!r}; set `evaluation.split` to one of "
                        f"{', '.join(splits)}.")
    return root / chosen


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"Cannot read {str(path)!r} ({e}); save the dataset again with `save_to_disk`.") from None
    if not isinstance(value, dict):
        raise UserError(f"{str(path)!r} is not a JSON object; save the dataset again with `save_to_disk`.")
    return value


def _arrow_files(folder: Path) -> list[Path]:
    """The shards in the order `state.json` lists them (the dataset's row order), else by name."""
    state = folder / "state.json"
    if state.is_file():
        return [folder / f["filename"] for f in _read_json(state).get("_data_files", [])]
    return sorted(folder.glob("data-*.arrow"))


def _read_datasets(folder: Path, spec: EvalSpec) -> tuple[dict[str, list], list[Path], list[str] | None]:
    """Columns, the files they came from, and the label column's ClassLabel names if it has them."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    files = _arrow_files(folder)
    if not files:
        raise UserError(f"Saved dataset {str(folder)!r} has no data-*.arrow files; save it again with `save_to_disk`.")
    tables = []
    for f in files:
        try:
            with pa.OSFile(str(f)) as src:
                tables.append(ipc.open_stream(src).read_all())
        except (OSError, pa.ArrowException) as e:
            raise _unreadable(f, "an Arrow stream", e) from None
    info_file = folder / "dataset_info.json"
    info = _read_json(info_file) if info_file.is_file() else {}
    label = (info.get("features") or {}).get(spec.label_column) or {}
    names = label.get("names") if isinstance(label, dict) else None
    kept = [f for f in (*files, info_file) if f.is_file()]
    return _arrow_columns(tables, spec.limit), kept, list(names) if names else None


def _labels(values: list, where: str, column: str, names: list[str] | None) -> tuple[list[int], list[str] | None]:
    """Class ids as they are, or class names numbered in sorted order."""
    for i, v in enumerate(values):
        if v is None:
            raise UserError(f"Example {i} (counting from 0) of {where} has no value in label column {column!r}; "
                            "label every example or set `evaluation.label_column`.")
    if all(isinstance(v, str) for v in values):
        found = sorted(set(values))
        index = {name: i for i, name in enumerate(found)}
        return [index[v] for v in values], found
    odd = next((v for v in values if not (isinstance(v, int | float) and float(v).is_integer())), None)
    if odd is not None:
        name = next((v for v in values if isinstance(v, str)), None)
        if name is not None:
            odd = next(v for v in values if not isinstance(v, str))
        shown = f"class names ({name!r}) beside other values ({odd!r})" if name is not None else repr(odd)
        raise UserError(f"Label column {column!r} of {where} holds {shown}; give every label as an integer class id, "
                        "or every label as a class name.")
    return [int(v) for v in values], names


def _from_columns(columns: dict[str, list], spec: EvalSpec, need_labels: bool, source: str, fmt: str,
                  digest: str, names: list[str] | None = None) -> EvalData:
    where = f"evaluation data {source!r}"
    present = ", ".join(map(repr, columns)) or "none"
    if spec.text_column not in columns:
        raise UserError(f"Evaluation data {source!r} has no text column {spec.text_column!r} (its columns: {present}); "
                        "set `evaluation.text_column` to the one holding the text.")
    texts = columns[spec.text_column]
    if not texts:
        raise UserError(f"Evaluation data {source!r} holds no examples; give a file with at least one row.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise UserError(f"Example {i} (counting from 0) of {where} has {t!r} in text column {spec.text_column!r}, "
                            "not a string; give every example its text.")
    labels = None
    if spec.label_column in columns:
        try:
            labels, names = _labels(columns[spec.label_column], where, spec.label_column, names)
        except UserError:
            if need_labels:
                raise  # without a need for labels, a label column that is not one is left unread
    elif need_labels:
        raise UserError(f"Evaluation data {source!r} has no label column {spec.label_column!r} (its columns: {present}); "
                        "set `evaluation.label_column` to the one holding the class.")
    return EvalData(kind="texts", texts=list(texts), images=None, labels=labels,
                    label_names=names if labels is not None else None, source=source, format=fmt,
                    sha256=digest, n=len(texts))


def _load_text(path: Path) -> EvalData:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"Evaluation text {str(path)!r} is not UTF-8 ({e.reason} at byte {e.start}); save it as "
                        "UTF-8.") from None
    if not text.strip():
        raise UserError(f"Evaluation text {str(path)!r} is empty; give a text file with the text to measure "
                        "perplexity on.")
    return EvalData(kind="stream", texts=[text], images=None, labels=None, label_names=None, source=str(path),
                    format="text", sha256=_sha256([path], path.parent), n=1)


TABLE_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}


def load_eval_data(spec: EvalSpec, base: Path | None = None, need_labels: bool = True) -> EvalData:
    """The examples `spec` names, the first `spec.limit` of them in the data's own order.

    `base` is the suite's directory; a relative `spec.data` is looked for there, then in the cwd.
    `need_labels=False` (feature extraction, perplexity) makes the label column optional. The
    digest covers the whole file for the table and text formats, the split's Arrow shards and
    dataset_info.json for a saved dataset, and the chosen images for an image folder (hashing
    an ImageNet-sized folder for a 500-image limit would cost every cell minutes). A text stream
    is one example: `limit` does not cut it.
    """
    path = _resolve(spec.data, base)
    fmt = _detect(path) if spec.format == "auto" else spec.format
    if path.is_dir() != (fmt in DIRECTORY_FORMATS):
        need = "a folder" if fmt in DIRECTORY_FORMATS else "a file"
        raise UserError(f"Evaluation data {str(path)!r} is {'a folder' if path.is_dir() else 'a file'}, but format "
                        f"{fmt} reads {need}; point `evaluation.data` at {need} or set `evaluation.format`.")
    if fmt == "imagefolder":
        return _load_images(path, spec.limit)
    if fmt == "text":
        return _load_text(path)
    if fmt == "datasets":
        folder = _datasets_split(path, spec.split)
        columns, files, names = _read_datasets(folder, spec)
        return _from_columns(columns, spec, need_labels, str(folder), fmt, _sha256(files, path), names)
    if spec.split is not None:
        raise UserError(f"Evaluation data {str(path)!r} is a {fmt} file, which has no splits; remove "
                        f"`evaluation.split` ({spec.split!r}).")
    if path.stat().st_size == 0:
        raise UserError(f"Evaluation data {str(path)!r} is empty; give a file with at least one example.")
    try:
        columns = TABLE_READERS[fmt](path, spec.limit)
    except UnicodeDecodeError as e:
        raise UserError(f"Evaluation data {str(path)!r} is not UTF-8 ({e.reason} at byte {e.start}); save it as "
                        "UTF-8.") from None
    except (OSError, csv.Error) as e:
        raise _unreadable(path, fmt, e) from None
    return _from_columns(columns, spec, need_labels, str(path), fmt, _sha256([path], path.parent))


def _example(data: EvalData, row: int) -> str:
    image = f", {data.images[row]}" if data.images else ""
    return f"Example {row} (counting from 0{image}) of {data.source!r}"


def check_labels(data: EvalData, num_classes: int | None, model_label_names: list[str] | None = None) -> list[int]:
    """The labels as the model's class indices.

    Named classes map to the model's names when it has them (case-insensitive: "Positive" is
    the model's "POSITIVE"), else to their sorted position in the data. Ids are kept. A label the
    model cannot output would count as a miss and quietly lower the accuracy, so it is an error.
    """
    if data.labels is None:
        raise UserError(f"Evaluation data {data.source!r} has no labels; add a label column (or set "
                        "`evaluation.label_column`) to measure a classifier's accuracy.")
    count = num_classes if num_classes is not None else (len(model_label_names) if model_label_names else None)
    model_index: dict[str, int] = {}
    for i, name in enumerate(model_label_names or []):
        model_index.setdefault(str(name).lower(), i)
    out = []
    for row, label in enumerate(data.labels):
        shown = data.label_names[label] if data.label_names and 0 <= label < len(data.label_names) else label
        if model_index and data.label_names:
            if str(shown).lower() not in model_index:
                known = ", ".join(map(repr, list(model_label_names)[:5])) + (", ..." if len(model_label_names) > 5 else "")
                raise UserError(f"{_example(data, row)} has label {shown!r}, which is none of the model's {len(model_label_names)} "
                                f"class names ({known}); rename the labels to the model's classes.")
            label = model_index[str(shown).lower()]
        if label < 0 or (count is not None and label >= count):
            classes = f"{count} classes (0..{count - 1})" if count is not None else "classes (0 and up)"
            raise UserError(f"{_example(data, row)} has label {shown!r} (class {label}), outside the model's {classes}; give "
                            "labels the model can output.")
        out.append(label)
    return out
