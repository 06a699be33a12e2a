"""Engine fixtures: the tiny model, built once per session, and JSONL files as the API exports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.preference_texts import BAD, GOOD, QUESTIONS
from training.engine import build_tiny_model

CORPUS = Path(__file__).resolve().parents[2] / "training" / "engine" / "tiny_corpus.txt"


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def preference_rows(n: int = 16, *, conversational: bool = True) -> list[dict[str, object]]:
    """Rows as the API exports them: explicit prompt, chosen and rejected."""
    rows: list[dict[str, object]] = []
    for i in range(n):
        q, good, bad = QUESTIONS[i % 8], GOOD[i % 8], BAD[i % 8]
        if conversational:
            rows.append(
                {
                    "prompt": [{"role": "user", "content": q}],
                    "chosen": [{"role": "assistant", "content": good}],
                    "rejected": [{"role": "assistant", "content": bad}],
                }
            )
        else:
            rows.append({"prompt": q, "chosen": " " + good, "rejected": " " + bad})
    return rows


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def reward_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model trained a few steps on the tiny model (judge for online RL and win rates)."""
    from training.engine import train

    tmp = tmp_path_factory.mktemp("reward")
    data = write_jsonl(tmp / "pairs.jsonl", preference_rows(16))
    config = {**FAST, "max_steps": 8, "eval_fraction": 0.0}
    return train(
        "reward", data=data, base=str(tiny_model), out=tmp / "run", config=config
    ).model_dir


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a WordPiece tokenizer, both built here (no hub): no EOS token."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import (  # type: ignore[attr-defined]
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
    )

    out = tmp_path_factory.mktemp("bert") / "model"
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train(
        [str(CORPUS)], trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials)
    )
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def bert_reward_model(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An encoder reward model (text-pair format, no chat template, no EOS)."""
    from training.engine import train

    tmp = tmp_path_factory.mktemp("bert-reward")
    data = write_jsonl(tmp / "pairs.jsonl", preference_rows(16))
    config = {**FAST, "eval_fraction": 0.0}
    return train("reward", data=data, base=str(tiny_bert), out=tmp / "run", config=config).model_dir


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", preference_rows())


FAST: dict[str, object] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 4,
    "eval_fraction": 0.25,
}


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_changed(before: Path, after: Path, name: str) -> bool:
    """Whether tensor `name` differs between two saved models (safetensors files)."""
    import torch
    from safetensors.torch import load_file

    old = load_file(str(before / "model.safetensors"))[name]
    new = load_file(str(after / "model.safetensors"))[name]
    return not torch.equal(old, new)
