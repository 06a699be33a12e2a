"""KTO from unpaired rows; GRPO, RLOO and PPO with the trained reward model."""

import json
from pathlib import Path

import pytest

from tests.engine.conftest import (
    BAD,
    FAST,
    GOOD,
    QUESTIONS,
    file_sha256,
    weights_changed,
    write_jsonl,
)
from training.engine import Hooks, train

pytestmark = pytest.mark.slow

LAYER = "model.layers.0.mlp.up_proj.weight"


def reloads(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert AutoTokenizer.from_pretrained(model_dir).chat_template
    assert model.config.vocab_size == 1024


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    rows: list[dict[str, object]] = [
        {"prompt": [{"role": "user", "content": q}], "chosen": "ignored column"} for q in QUESTIONS
    ]
    return write_jsonl(tmp_path / "prompts.jsonl", rows + rows)


def test_kto_trains_from_unpaired_rows(tiny_model: Path, tmp_path: Path) -> None:
    rows = [
        {"prompt": q, "completion": " " + g, "label": True}
        for q, g in zip(QUESTIONS, GOOD, strict=True)
    ]
    rows += [
        {"prompt": q, "completion": " " + b, "label": False}
        for q, b in zip(QUESTIONS, BAD, strict=True)
    ]
    data = write_jsonl(tmp_path / "kto.jsonl", rows)

    result = train("kto", data=data, base=str(tiny_model), out=tmp_path / "run", config=FAST)

    assert result.steps == 4 and "eval_loss" in result.metrics
    assert result.card["dataset"]["sha256"] == file_sha256(data)
    assert weights_changed(tiny_model, result.model_dir, LAYER)
    reloads(result.model_dir)


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_online_rl_trains_with_the_reward_model(
    method: str, tiny_model: Path, reward_model: Path, prompts_file: Path, tmp_path: Path
) -> None:
    config = {**FAST, "max_steps": 2, "num_generations": 2, "max_completion_length": 6}

    result = train(
        method,
        data=prompts_file,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=config,
        reward_model=str(reward_model),
    )

    assert result.steps == 2
    assert "reward" in result.metrics and "eval_reward" in result.metrics
    card = json.loads((result.model_dir / "card.json").read_text())
    assert card["reward_model"] == str(reward_model) and card["method"] == method
    assert weights_changed(tiny_model, result.model_dir, LAYER)
    reloads(result.model_dir)


def test_ppo_trains_policy_against_reward_and_value_models(
    tiny_model: Path, reward_model: Path, prompts_file: Path, tmp_path: Path
) -> None:
    config = {**FAST, "max_steps": 2, "response_length": 6}

    result = train(
        "ppo",
        data=prompts_file,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=config,
        reward_model=str(reward_model),
    )

    assert result.steps == 2
    assert {"loss/policy_avg", "loss/value_avg", "eval_reward"} <= set(result.metrics)
    assert weights_changed(tiny_model, result.model_dir, LAYER)
    reloads(result.model_dir)


def test_ppo_cancel_stops_after_a_checkpoint(
    tiny_model: Path, reward_model: Path, prompts_file: Path, tmp_path: Path
) -> None:
    config = {**FAST, "max_steps": 4, "response_length": 4}

    result = train(
        "ppo",
        data=prompts_file,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=config,
        reward_model=str(reward_model),
        hooks=Hooks(should_stop=lambda: True),
    )

    assert result.cancelled and result.steps == 1
    assert (tmp_path / "run/checkpoints/checkpoint-1").is_dir()
    assert not result.model_dir.exists()
