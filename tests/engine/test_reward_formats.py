"""Reward models on an encoder and a causal base, scored with the formatting they trained with;
empty completions are valid answers; identical completions are refused with their line."""

import json
from pathlib import Path

import pytest

from tests.engine.conftest import FAST, preference_rows, write_jsonl
from training.engine import DataError, evaluate_reward_accuracy, train
from training.engine.data import data_read

pytestmark = pytest.mark.slow


def test_encoder_reward_model_trains_on_text_pairs_and_scores_the_same_way(
    tiny_bert: Path, tmp_path: Path
) -> None:
    rows = preference_rows(16, conversational=False)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)

    result = train("reward", data=data, base=str(tiny_bert), out=tmp_path / "run", config=FAST)

    # the config's max_length (1024), capped at what the encoder reads (its 128 positions)
    assert result.card["reward_format"] == {"kind": "text-pair", "max_length": 128}
    assert "eval_accuracy" in result.metrics and "eval_accuracy_low" in result.metrics
    from transformers import AutoTokenizer

    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import pair_encode, score_completions

    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    fmt = reward_format_load(result.model_dir, tokenizer)
    row = rows[0]
    ids, _, _ = pair_encode(tokenizer, fmt, row["prompt"], row["chosen"])
    # the tokenizer's own text-pair encoding: [CLS] prompt [SEP] response [SEP]
    assert ids == tokenizer(row["prompt"], row["chosen"])["input_ids"]
    # the evaluation (and so the gate) scores exactly what a single forward pass on it gives
    model, tokenizer = reward_model_load(result.model_dir)
    import torch

    with torch.inference_mode():
        direct = float(model(input_ids=torch.tensor([ids])).logits[0, 0])
    batched = score_completions(
        model, tokenizer, fmt, [(r["prompt"], r["chosen"]) for r in rows], batch_size=5
    )
    assert batched[0] == pytest.approx(direct, abs=1e-4)
    held = evaluate_reward_accuracy(reward_model=result.model_dir, data=data)
    assert held["n"] == 16 and held["accuracy_low"] <= held["accuracy"] <= held["accuracy_high"]


def test_length_sorted_scoring_matches_one_row_at_a_time(
    reward_model: Path, tmp_path: Path
) -> None:
    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions

    model, tokenizer = reward_model_load(reward_model)
    fmt = reward_format_load(reward_model, tokenizer)
    items = [(r["prompt"], r["chosen"]) for r in preference_rows(9)]
    items[3] = (
        [{"role": "user", "content": "a much longer question " * 20}],
        items[3][1],
    )  # one long row among short ones

    together = score_completions(model, tokenizer, fmt, items, batch_size=4)
    alone = [score_completions(model, tokenizer, fmt, [item], batch_size=1)[0] for item in items]

    assert together == pytest.approx(alone, abs=1e-4)


def test_bf16_scoring_is_asked_for_and_stays_near_fp32(reward_model: Path) -> None:
    import torch

    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions

    model, tokenizer = reward_model_load(reward_model)
    fmt = reward_format_load(reward_model, tokenizer)
    items = [(r["prompt"], r[side]) for r in preference_rows(8) for side in ("chosen", "rejected")]
    default = score_completions(model, tokenizer, fmt, items)
    full = score_completions(model, tokenizer, fmt, items, precision="fp32")
    fast = score_completions(model, tokenizer, fmt, items, precision="bf16")
    assert default == full  # fp32 unless asked: the score one full-precision pass gives
    assert fast != full  # bf16 ran (its rounding shows) ...
    spread = max(full) - min(full)
    assert max(abs(a - b) for a, b in zip(full, fast, strict=True)) < 0.05 * spread  # ... close
    assert next(model.parameters()).dtype == torch.float32  # the weights are left as they were


def test_empty_completion_is_a_valid_answer_and_trains(tiny_model: Path, tmp_path: Path) -> None:
    rows = preference_rows(8, conversational=False)
    rows[0]["chosen"] = " "  # HH-RLHF: the preferred reply is to say nothing
    rows[1]["rejected"] = ""
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)

    result = train(
        "reward",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config={**FAST, "max_steps": 1, "eval_fraction": 0.0},
    )

    assert result.card["dataset"]["train_rows"] == 8
    assert result.metrics["dropped_rows"] == 0


def test_identical_completions_are_refused_with_their_line(tmp_path: Path) -> None:
    rows = preference_rows(3, conversational=False)
    rows[2]["rejected"] = rows[2]["chosen"]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)

    with pytest.raises(
        DataError, match=r"line 3: column 'chosen': chosen and rejected are identical"
    ):
        data_read(data, "reward")


def test_card_records_the_format_the_gate_reads(reward_model: Path) -> None:
    card = json.loads((reward_model / "card.json").read_text())
    assert card["reward_format"]["kind"] == "causal"


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_online_rl_rewards_an_encoder_reward_model_in_its_recorded_format(
    method: str, tiny_model: Path, bert_reward_model: Path, tmp_path: Path
) -> None:
    # Given the model itself, TRL would render prompt + completion through the reward
    # tokenizer's chat template: an encoder has none (and was trained on text pairs).
    from transformers import AutoTokenizer

    assert not AutoTokenizer.from_pretrained(bert_reward_model).chat_template
    prompts = [{"prompt": r["prompt"]} for r in preference_rows(8)]
    data = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    config = {**FAST, "max_steps": 2, "num_generations": 2, "max_completion_length": 6}

    result = train(
        method,
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=config,
        reward_model=str(bert_reward_model),
    )

    assert result.steps == 2 and "reward" in result.metrics and "eval_reward" in result.metrics


@pytest.mark.parametrize("judge", ["reward_model", "bert_reward_model"])
def test_online_rewards_are_the_scores_the_gate_gives(
    judge: str, request: pytest.FixtureRequest
) -> None:
    """The reward function GRPO and RLOO call, called as TRL calls it, gives each completion
    the score evaluation (and so the promotion gate) gives it, long prompts truncated alike."""
    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions
    from training.engine.methods.online import recorded_format_reward

    path: Path = request.getfixturevalue(judge)
    model, tokenizer = reward_model_load(path)
    fmt = reward_format_load(path, tokenizer)
    rows = preference_rows(6)
    rows[2]["prompt"] = [{"role": "user", "content": "a much longer question " * 300}]
    prompts = [r["prompt"] for r in rows for _ in range(2)]
    completions = [r[side] for r in rows for side in ("chosen", "rejected")]
    reward = recorded_format_reward(model, tokenizer, fmt, batch_size=4)

    given = reward(prompts=prompts, completions=completions, completion_ids=[], trainer_state=None)

    gate = [
        score_completions(model, tokenizer, fmt, [(p, c)], batch_size=1)[0]
        for p, c in zip(prompts, completions, strict=True)
    ]
    assert given == pytest.approx(gate, abs=1e-4)
    assert len(set(round(g, 4) for g in given)) > 1  # real scores, not a constant
