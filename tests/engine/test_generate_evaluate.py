"""Sampling from a model directory, and the three evaluations."""

from pathlib import Path

import pytest

from tests.engine.conftest import QUESTIONS, preference_rows, write_jsonl
from training.engine import (
    DataError,
    GenerateConfig,
    evaluate_reward_accuracy,
    evaluate_text_metrics,
    evaluate_win_rate,
    generate,
)
from training.engine.evaluate import wilson_interval

PROMPTS = [[{"role": "user", "content": q}] for q in QUESTIONS[:3]]


def test_generate_returns_k_texts_per_prompt_reproducibly(tiny_model: Path) -> None:
    config = GenerateConfig(num_return_sequences=3, max_new_tokens=8, seed=7, batch_size=2)

    first = generate(tiny_model, PROMPTS, config)
    again = generate(tiny_model, PROMPTS, config)

    assert [len(group) for group in first] == [3, 3, 3]
    assert all(isinstance(text, str) for group in first for text in group)
    assert first == again
    other_seed = GenerateConfig(num_return_sequences=3, max_new_tokens=8, seed=8, batch_size=2)
    assert generate(tiny_model, PROMPTS, other_seed) != first


def test_generate_refuses_prompts_that_are_not_messages(tiny_model: Path) -> None:
    with pytest.raises(DataError, match="prompt 0"):
        generate(tiny_model, ["just a string"])  # type: ignore[list-item]


@pytest.mark.slow
def test_trained_reward_model_prefers_the_chosen_answers(
    reward_model: Path, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows(8))

    result = evaluate_reward_accuracy(reward_model=reward_model, data=data)

    assert result["n"] == 8
    assert result["accuracy"] >= 0.75 and result["mean_margin"] > 0


@pytest.mark.slow
def test_win_rate_counts_every_comparison_with_an_interval(
    tiny_model: Path, reward_model: Path
) -> None:
    config = GenerateConfig(num_return_sequences=2, max_new_tokens=6)

    same = evaluate_win_rate(
        policy=tiny_model,
        baseline=tiny_model,
        reward_model=reward_model,
        prompts=PROMPTS,
        config=config,
    )

    assert same.n == 6 and same.wins + same.losses + same.ties == 6
    # the same model with the same seed writes the same answers: every comparison is a tie
    assert same.ties == 6 and same.win_rate == 0.5
    assert same.ci_low < 0.5 < same.ci_high


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)


def test_text_metrics_use_sacrebleu_and_rouge() -> None:
    perfect = evaluate_text_metrics(
        predictions=["the cat sat on the mat"] * 2, references=["the cat sat on the mat"] * 2
    )
    partial = evaluate_text_metrics(
        predictions=["a dog ran"], references=["the cat sat on the mat"]
    )

    assert perfect == pytest.approx({"bleu": 100.0, "rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    assert partial["bleu"] < 10 and partial["rouge1"] == 0.0


def test_text_metrics_need_one_reference_per_prediction() -> None:
    with pytest.raises(DataError, match="pair one to one"):
        evaluate_text_metrics(predictions=["a", "b"], references=["a"])
