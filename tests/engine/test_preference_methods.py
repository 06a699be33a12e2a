"""Reward model and DPO train on the tiny model from exported-format files."""

import json
from pathlib import Path

import pytest

from tests.engine.conftest import (
    FAST,
    file_sha256,
    preference_rows,
    weights_changed,
    write_jsonl,
)
from training.engine import Hooks, Progress, train

pytestmark = pytest.mark.slow

LAYER = "model.layers.0.self_attn.q_proj.weight"


def test_reward_model_learns_saves_and_records_lineage(tiny_model: Path, tmp_path: Path) -> None:
    rows = preference_rows(16)
    for i, row in enumerate(rows):
        row["margin"] = float(i % 3)
        row["id"] = i  # extra export columns are ignored
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    seen: list[Progress] = []

    result = train(
        "reward",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=FAST,
        hooks=Hooks(on_progress=seen.append),
    )

    assert result.steps == 4 and not result.cancelled
    assert {"eval_accuracy", "eval_margin", "dropped_rows"} <= set(result.metrics)
    assert [p.step for p in seen][:4] == [1, 2, 3, 4] and seen[0].total_steps == 4
    card = json.loads((result.model_dir / "card.json").read_text())
    assert card["dataset"]["sha256"] == file_sha256(data)
    assert card["dataset"]["rows"] == 16 and card["method"] == "reward"
    assert card["versions"]["trl"] == "1.12.0" and card["config"]["max_steps"] == 4
    assert weights_changed(tiny_model, result.model_dir, LAYER)

    from transformers import AutoModelForSequenceClassification

    reloaded = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert reloaded.config.num_labels == 1


def test_reward_truncates_long_pairs_instead_of_dropping_them(
    tiny_model: Path, tmp_path: Path
) -> None:
    rows = preference_rows(12, conversational=False)
    rows[0]["prompt"] = "a long question about many things " * 40
    rows[1]["rejected"] = " another long answer" * 60
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)

    result = train(
        "reward",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config={**FAST, "max_steps": 1, "max_length": 64, "eval_fraction": 0.0},
    )

    assert result.metrics["dropped_rows"] == 0
    assert result.card["dropped_rows"] == {"train": 0, "eval": 0, "max_length": 64}
    truncation = result.card["truncation"]["train"]
    assert truncation["rows"] == 12
    assert truncation["prompt_truncated"] == 2  # both long rows trained on, prompts cut
    assert truncation["response_truncated"] == 1  # the long answer alone exceeds 64 tokens
    assert truncation["longest_tokens"] == 64
    assert result.metrics["truncated_rows"] == 2
    assert result.card["reward_format"] == {"kind": "causal", "max_length": 64}


def test_dpo_trains_against_a_reference_copy(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(16, conversational=False))

    result = train("dpo", data=data, base=str(tiny_model), out=tmp_path / "run", config=FAST)

    assert result.steps == 4
    assert {"eval_accuracy", "eval_margin", "eval_loss"} <= set(result.metrics)
    assert result.card["dataset"]["sha256"] == file_sha256(data)
    assert weights_changed(tiny_model, result.model_dir, LAYER)
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(result.model_dir)


def test_dpo_with_lora_saves_adapters_that_load(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(8))
    config = {**FAST, "max_steps": 2, "use_lora": True, "merge_lora": False, "lora_r": 4}

    result = train("dpo", data=data, base=str(tiny_model), out=tmp_path / "run", config=config)

    assert (result.model_dir / "adapter_config.json").is_file()
    assert not (result.model_dir / "model.safetensors").exists()
    assert result.card["lora"] == {"r": 4, "alpha": 32, "merged": False}
    from peft import AutoPeftModelForCausalLM

    model = AutoPeftModelForCausalLM.from_pretrained(result.model_dir)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: it learned
