"""Small models of each kind a suite can bring, written to a temporary directory (nothing downloaded).

`tiny_classifier` trains a 2-layer BERT for a few seconds on a synthetic task (is the marker word
"good" or "bad"?) until it is right on nearly every held-out sentence, so that an optimization's
effect on measured accuracy can be told from noise.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

WORDS = ["the", "a", "cat", "dog", "house", "tree", "river", "blue", "green", "runs", "sleeps", "near", "under",
         "over", "small", "large", "old", "new", "red", "fast", "slow", "bird", "car", "road", "hill", "stone"]
MARKERS = ["good", "bad"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *MARKERS]


def sentences(n: int, seed: int) -> list[tuple[str, int]]:
    """Five filler words and one marker at a random place; the label is the marker."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(5)]
        label = rng.randrange(2)
        words.insert(rng.randrange(6), MARKERS[label])
        out.append((" ".join(words), label))
    return out


def _tokenizer(path: Path):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return BertTokenizerFast(tokenizer_object=BertWordPieceTokenizer(str(path / "vocab.txt"), lowercase=True),
                             unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                             mask_token="[MASK]")


def _config(**kw):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=64, **kw)


def tiny_encoder(path: Path) -> Path:
    """A feature-extraction BERT with a tokenizer, as `save_pretrained` writes it."""
    from transformers import BertModel

    tok = _tokenizer(path)
    torch.manual_seed(0)
    BertModel(_config()).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_classifier(path: Path, steps: int = 150) -> Path:
    """A 2-class BERT trained on the marker task; saved with its tokenizer and label names."""
    from transformers import BertForSequenceClassification

    tok = _tokenizer(path)
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config(num_labels=2, id2label={0: "good", 1: "bad"},
                                                  label2id={"good": 0, "bad": 1}))
    train = sentences(2000, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        batch = train[(step * 32) % len(train):][:32]
        enc = tok([s for s, _ in batch], padding="max_length", max_length=12, return_tensors="pt")
        loss = model(**enc, labels=torch.tensor([y for _, y in batch])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_vit_checkpoint(path: Path) -> Path:
    """timm's `test_vit` with seeded weights, saved as a checkpoint file."""
    import timm

    torch.manual_seed(0)
    torch.save(timm.create_model("test_vit", pretrained=False, num_classes=10).state_dict(), path)
    return path


FACTORY = '''
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, pixel_values):
        return self.head(self.conv(pixel_values).mean((2, 3)))


def make():
    return Net(), {"modality": "vision", "image_size": 32, "num_classes": 5}


def broken():
    raise RuntimeError("the checkpoint server is down")
'''


def factory_module(directory: Path, name: str = "my_models") -> str:
    (directory / f"{name}.py").write_text(FACTORY)
    return name


def onnx_export(model_dir: Path, out: Path) -> Path:
    """The tiny encoder exported with the zoo's input names, as a user would bring it."""
    from bench.zoo.user_build import hf_model

    module = hf_model(str(model_dir), "feature-extraction").eval()
    ids = torch.randint(5, len(VOCAB), (1, 16))
    torch.onnx.export(module, (), str(out), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                      input_names=["input_ids", "attention_mask"], output_names=["output"], opset_version=17,
                      dynamo=False, dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}})
    return out


def tiny_gpt2(path: Path) -> Path:
    """A 2-layer GPT-2 over the small vocabulary, with a tokenizer: a causal LM a suite can bring."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = _tokenizer(path)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(VOCAB), n_embd=32, n_layer=2, n_head=4, n_positions=64)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def image_folder(root: Path, classes: int, per_class: int, size: int = 32) -> Path:
    """Random RGB images, one folder per class (torchvision's ImageFolder layout)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c:02d}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / f"class{c:02d}" / f"{i}.png")
    return root
