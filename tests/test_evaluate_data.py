"""Evaluation data read from each format as a user would write it, and every way it can be wrong."""

import json
import shutil
import subprocess
import sys

import datasets
import pandas as pd
import pytest
from PIL import Image
from pydantic import ValidationError

from bench.errors import UserError
from bench.evaluate.data import EvalData, EvalSpec, check_labels, load_eval_data
from tests.conftest import ROOT
from tests.test_specs_light import HEAVY

ROWS = [{"text": "a fine film", "label": "pos"}, {"text": "dull, and long", "label": "neg"},
        {"text": "NA", "label": "pos"}, {"text": "\"quoted\" praise", "label": "pos"}]


def load(path, **kw) -> EvalData:
    need_labels = kw.pop("need_labels", True)
    return load_eval_data(EvalSpec(data=str(path), **kw), need_labels=need_labels)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def image_folder(tmp_path):
    """cat: 3 images (one in a nested folder), dog: 2, eel: 1; a hidden folder that is no class."""
    root = tmp_path / "images"
    files = {"cat": ["a.png", "b.jpg", "sub/c.png"], "dog": ["a.png", "b.png"], "eel": ["a.PNG"],
             ".ipynb_checkpoints": ["a.png"]}
    for i, (cls, names) in enumerate(files.items()):
        for j, name in enumerate(names):
            f = root / cls / name
            f.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (2, 2), (40 * i, 60 * j, 0)).save(f, format="PNG" if name.lower().endswith("png") else "JPEG")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_numbers_sorted_classes_and_interleaves_them(image_folder):
    d = load(image_folder, limit=None)
    assert (d.kind, d.format, d.n, d.source) == ("images", "imagefolder", 6, str(image_folder))
    assert d.label_names == ["cat", "dog", "eel"]
    assert [p.removeprefix(str(image_folder) + "/") for p in d.images] == [
        "cat/a.png", "dog/a.png", "eel/a.PNG", "cat/b.jpg", "dog/b.png", "cat/sub/c.png"]
    assert d.labels == [0, 1, 2, 0, 1, 0]
    assert d.texts is None


def test_an_image_limit_keeps_every_class_it_can(image_folder):
    d = load(image_folder, limit=4)
    assert d.labels == [0, 1, 2, 0] and d.n == 4
    assert d.sha256 != load(image_folder, limit=None).sha256  # the digest covers the images chosen


def test_image_digest_follows_the_bytes_of_the_images_chosen(image_folder, tmp_path):
    before = load(image_folder, limit=3).sha256
    assert load(image_folder, limit=3).sha256 == before
    copy = shutil.copytree(image_folder, tmp_path / "elsewhere")
    assert load(copy, limit=3).sha256 == before  # names are relative to the folder
    (image_folder / "cat" / "b.jpg").write_bytes(b"changed")  # not among the first three
    assert load(image_folder, limit=3).sha256 == before
    f = image_folder / "dog" / "a.png"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    assert load(image_folder, limit=3).sha256 != before


def test_image_folder_errors(tmp_path, image_folder):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match=r"Cannot tell the format of evaluation data '.*empty'.*set `evaluation.format`"):
        load(tmp_path / "empty")
    with pytest.raises(UserError, match=r"'.*empty' holds no images .* one subfolder of images per class"):
        load(tmp_path / "empty", format="imagefolder")
    (image_folder / "fox").mkdir()
    with pytest.raises(UserError, match=r"Class folder '.*images/fox' of the evaluation images holds no images"):
        load(image_folder)


def test_jsonl_with_named_classes(tmp_path):
    f = tmp_path / "sst.jsonl"
    f.write_text(json.dumps(ROWS[0]) + "\n\n" + "".join(json.dumps(r) + "\n" for r in ROWS[1:]))
    d = load(f)
    assert (d.kind, d.format, d.n, d.source) == ("texts", "jsonl", 4, str(f))
    assert d.texts == [r["text"] for r in ROWS]
    assert d.label_names == ["neg", "pos"] and d.labels == [1, 0, 1, 1]
    assert d.images is None
    two = load(f, limit=2)
    assert two.texts == d.texts[:2] and two.labels == [1, 0] and two.n == 2


def test_class_ids_are_kept_as_they_are(tmp_path):
    f = write_jsonl(tmp_path / "ids.jsonl", [{"sentence": "x", "y": 3}, {"sentence": "z", "y": 0.0}])
    d = load(f, text_column="sentence", label_column="y")
    assert d.labels == [3, 0] and d.label_names is None


def test_labels_are_optional_only_when_not_needed(tmp_path):
    f = write_jsonl(tmp_path / "plain.jsonl", [{"text": "one"}, {"text": "two"}])
    d = load(f, need_labels=False)
    assert d.texts == ["one", "two"] and d.labels is None
    with pytest.raises(UserError, match=r"has no label column 'label' \(its columns: 'text'\); set "
                                        r"`evaluation.label_column`"):
        load(f)
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"text": "a", "label": "pos"}, {"text": "b", "label": 1.5}])
    assert load(mixed, need_labels=False).labels is None
    with pytest.raises(UserError, match=r"Label column 'label' of evaluation data '.*mixed.jsonl' holds class names "
                                        r"\('pos'\) beside other values \(1.5\); give every label as an integer"):
        load(mixed)
    write_jsonl(mixed, [{"text": "a", "label": 1}, {"text": "b", "label": 1.5}])
    with pytest.raises(UserError, match=r"'.*mixed.jsonl' holds 1.5; give every label"):
        load(mixed)


def test_table_errors_name_the_file_and_the_fix(tmp_path):
    f = write_jsonl(tmp_path / "cols.jsonl", [{"sentence": "x", "label": 1}])
    with pytest.raises(UserError, match=r"'.*cols.jsonl' has no text column 'text' \(its columns: 'sentence', "
                                        r"'label'\); set `evaluation.text_column`"):
        load(f)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match=r"'.*empty.jsonl' is empty; give a file with at least one example"):
        load(tmp_path / "empty.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match=r"'.*blank.jsonl' has no text column"):
        load(tmp_path / "blank.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{"text": \n')
    with pytest.raises(UserError, match=r"Line 2 of evaluation data '.*bad.jsonl' is not JSON"):
        load(tmp_path / "bad.jsonl")
    write_jsonl(tmp_path / "gap.jsonl", [{"text": "a", "label": 1}, {"text": None, "label": 0}])
    with pytest.raises(UserError, match=r"Example 1 \(counting from 0\) of evaluation data '.*gap.jsonl' has None"):
        load(tmp_path / "gap.jsonl")
    write_jsonl(tmp_path / "nolabel.jsonl", [{"text": "a", "label": 1}, {"text": "b"}])
    with pytest.raises(UserError, match=r"Example 1 .* has no value in label column 'label'"):
        load(tmp_path / "nolabel.jsonl")


def test_csv_keeps_text_as_written(tmp_path):
    f = tmp_path / "reviews.csv"
    pd.DataFrame({"text": [r["text"] for r in ROWS], "label": [1, 0, 1, 1]}).to_csv(f, index=False)
    d = load(f)
    assert d.format == "csv" and d.texts == [r["text"] for r in ROWS]  # "NA" is a text, not a missing value
    assert d.labels == [1, 0, 1, 1] and d.label_names is None
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n")
    with pytest.raises(UserError, match=r"'.*header.csv' holds no examples"):
        load(header_only)


def test_parquet_with_named_classes(tmp_path):
    f = tmp_path / "reviews.parquet"
    pd.DataFrame(ROWS).to_parquet(f)
    d = load(f, limit=3)
    assert d.format == "parquet" and d.texts == [r["text"] for r in ROWS[:3]]
    assert d.labels == [1, 0, 1] and d.label_names == ["neg", "pos"]


def test_table_digest_is_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_jsonl(tmp_path / "a" / "data.jsonl", ROWS)
    b = write_jsonl(tmp_path / "b" / "data.jsonl", ROWS)
    assert load(a).sha256 == load(b).sha256
    renamed = tmp_path / "b" / "other.jsonl"
    renamed.write_bytes(a.read_bytes())
    assert load(renamed).sha256 != load(a).sha256
    b.write_bytes(a.read_bytes().replace(b"fine", b"fire"))
    assert load(b).sha256 != load(a).sha256


def saved_dataset(root, shards=1):
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    rows = {"sentence": [f"review {i}" for i in range(6)], "label": [0, 1, 1, 0, 1, 1]}
    ds = datasets.Dataset.from_dict(rows, features=features)
    ds.save_to_disk(str(root / "single"), num_shards=shards)
    datasets.DatasetDict({"train": ds, "test": ds.select([4, 5, 0])}).save_to_disk(str(root / "dict"))
    return root


def test_saved_dataset_is_read_without_the_datasets_package(tmp_path):
    saved_dataset(tmp_path, shards=2)
    code = ("import sys; from bench.evaluate.data import EvalSpec, load_eval_data; "
            f"d = load_eval_data(EvalSpec(data={str(tmp_path / 'single')!r}, text_column='sentence')); "
            f"print(d.labels, d.label_names, [m for m in {(*HEAVY, 'datasets')!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[0, 1, 1, 0, 1, 1] ['negative', 'positive'] []"  # two shards, in order


def test_saved_dataset_dict_reads_the_test_split_by_default(tmp_path):
    root = saved_dataset(tmp_path)
    d = load(root / "dict", text_column="sentence")
    assert (d.kind, d.format, d.source) == ("texts", "datasets", str(root / "dict" / "test"))
    assert d.texts == ["review 4", "review 5", "review 0"] and d.labels == [1, 1, 0]
    assert d.label_names == ["negative", "positive"]
    train = load(root / "dict", text_column="sentence", split="train", limit=2)
    assert train.source.endswith("/dict/train") and train.texts == ["review 0", "review 1"]
    assert train.sha256 != d.sha256
    assert load(root / "single", text_column="sentence").texts == [f"review {i}" for i in range(6)]


def test_saved_dataset_errors(tmp_path):
    root = saved_dataset(tmp_path)
    with pytest.raises(UserError, match=r"'.*dict' has no split 'validation'; set `evaluation.split` to one of "
                                        r"train, test"):
        load(root / "dict", text_column="sentence", split="validation")
    with pytest.raises(UserError, match=r"'.*single' is a single saved Dataset, not a DatasetDict with splits; "
                                        r"remove `evaluation.split`"):
        load(root / "single", text_column="sentence", split="test")
    with pytest.raises(UserError, match=r"'.*dict/test' has no text column 'text' \(its columns: 'sentence', "
                                        r"'label'\)"):
        load(root / "dict")


def test_text_file_is_one_stream(tmp_path):
    f = tmp_path / "wiki.txt"
    f.write_text("The first line.\nThe second line.\n")
    d = load(f)
    assert (d.kind, d.format, d.n, d.texts, d.labels) == ("stream", "text", 1, ["The first line.\nThe second line.\n"],
                                                           None)
    (tmp_path / "blank.txt").write_text(" \n\n")
    with pytest.raises(UserError, match=r"Evaluation text '.*blank.txt' is empty; give a text file"):
        load(tmp_path / "blank.txt")


def test_paths_are_relative_to_the_suite_then_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "data.txt").write_text("suite's")
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "data.txt").write_text("cwd's")
    (tmp_path / "cwd" / "only.txt").write_text("only here")
    monkeypatch.chdir(tmp_path / "cwd")
    spec = EvalSpec(data="data.txt")
    assert load_eval_data(spec, base=tmp_path / "suite").texts == ["suite's"]
    assert load_eval_data(spec).texts == ["cwd's"]
    assert load_eval_data(EvalSpec(data="only.txt"), base=tmp_path / "suite").texts == ["only here"]
    with pytest.raises(UserError, match=r"Evaluation data 'missing.jsonl' does not exist \(looked for "
                                        r"'.*suite/missing.jsonl'\); fix `evaluation.data`"):
        load_eval_data(EvalSpec(data="missing.jsonl"), base=tmp_path / "suite")


def test_a_format_that_cannot_be_told_or_does_not_fit(tmp_path, image_folder):
    f = tmp_path / "data.xml"
    f.write_text("<x/>")
    with pytest.raises(UserError, match=r"Cannot tell the format of evaluation data '.*data.xml' from its name; "
                                        r"name it .jsonl, .csv, .parquet or .txt, or set `evaluation.format`"):
        load(f)
    assert load(write_jsonl(tmp_path / "rows.json", ROWS), format="jsonl").n == 4
    with pytest.raises(UserError, match=r"'.*images' is a folder, but format jsonl reads a file"):
        load(image_folder, format="jsonl")
    with pytest.raises(UserError, match=r"'.*rows.json' is a file, but format imagefolder reads a folder"):
        load(tmp_path / "rows.json", format="imagefolder")


def test_eval_spec_is_strict():
    spec = EvalSpec(data="d.jsonl")
    assert (spec.format, spec.limit, spec.text_column, spec.label_column, spec.split, spec.batch_size) == (
        "auto", 500, "text", "label", None, None)
    assert EvalSpec(data="d.jsonl", limit=None).limit is None
    for bad in ({"data": "d", "limt": 5}, {"data": "d", "limit": 0}, {"data": "d", "format": "xml"},
                {"data": "d", "batch_size": 0}):
        with pytest.raises(ValidationError):
            EvalSpec(**bad)


def data_with(labels, label_names=None, images=None) -> EvalData:
    return EvalData(kind="images" if images else "texts", texts=None if images else ["t"] * len(labels or [1]),
                    images=images, labels=labels, label_names=label_names, source="/d/eval.jsonl", format="jsonl",
                    sha256="0" * 64, n=len(labels or [1]))


def test_check_labels_maps_names_to_the_models_classes():
    d = data_with([1, 0, 1], ["negative", "positive"])
    assert check_labels(d, 2) == [1, 0, 1]  # the data's sorted names
    assert check_labels(d, 2, ["POSITIVE", "Negative"]) == [0, 1, 0]  # the model's names, any case
    assert check_labels(data_with([3, 0]), 4) == [3, 0]
    assert check_labels(data_with([3, 0]), None) == [3, 0]


def test_check_labels_names_the_first_label_the_model_cannot_output():
    with pytest.raises(UserError, match=r"Example 1 \(counting from 0\) of '/d/eval.jsonl' has label 5 \(class 5\), "
                                        r"outside the model's 3 classes \(0..2\)"):
        check_labels(data_with([0, 5, 7]), 3)
    with pytest.raises(UserError, match=r"Example 2 .* has label 'neutral' \(class 2\), outside the model's 2 "
                                        r"classes"):
        check_labels(data_with([0, 1, 2], ["a", "b", "neutral"]), 2)
    with pytest.raises(UserError, match=r"Example 0 \(counting from 0, /d/cat/1.png\) .* has label -1"):
        check_labels(data_with([-1], images=["/d/cat/1.png"]), None)
    with pytest.raises(UserError, match=r"Example 2 .* has label 'neutral', which is none of the model's 2 class "
                                        r"names \('NEGATIVE', 'POSITIVE'\); rename the labels"):
        check_labels(data_with([0, 1, 2], ["negative", "positive", "neutral"]), 2, ["NEGATIVE", "POSITIVE"])
    with pytest.raises(UserError, match=r"'/d/eval.jsonl' has no labels; add a label column"):
        check_labels(data_with(None), 2)
