"""Evaluation: reward-model accuracy, win rate judged by a reward model, BLEU and ROUGE."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from training.engine.config import GenerateConfig, build_config
from training.engine.data import data_read
from training.engine.errors import DataError
from training.engine.formatting import (
    PairFormat,
    format_of_model,
    score_completions,
    score_ids,
)
from training.engine.generate import (
    causal_lm_for_inference,
    device,
    prompts_check,
    sample,
)
from training.engine.intervals import Z_95, wilson_interval
from training.engine.results import WinRate
from training.engine.runtime import libraries_quiet, model_check

__all__ = ["Z_95", "wilson_interval"]

TIE_TOLERANCE = 1e-6


def reward_model_load(name: str | Path) -> tuple[Any, Any]:
    """(reward model, tokenizer) for scoring: one output, eval mode, right padding."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    libraries_quiet()
    model_check(str(name), what="reward model")
    tokenizer = AutoTokenizer.from_pretrained(name)
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device()).eval(), tokenizer


def reward_format_load(name: str | Path, tokenizer: Any) -> PairFormat:
    """The formatting the reward model at `name` was trained with (from its card)."""
    return format_of_model(name, tokenizer)


def scores(
    model: Any, tokenizer: Any, texts: list[str], *, batch_size: int = 16, max_length: int = 4096
) -> list[float]:
    """The reward model's scalar score of each full text (already formatted), length-sorted
    batches; a text longer than `max_length` keeps its end (the response), not its start."""
    sequences = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        sequences.append(ids[max(0, len(ids) - max_length) :])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return score_ids(model, pad, sequences, batch_size=batch_size)


def pairwise_accuracy(chosen: list[float], rejected: list[float]) -> dict[str, float]:
    """{"accuracy", "accuracy_low", "accuracy_high", "mean_margin", "ties", "n"} of paired
    scores: how often chosen outscores rejected, ties counted as half (a model that scores
    everything alike is at chance, 0.5), with the 95% Wilson interval over the pairs."""
    if not chosen or len(chosen) != len(rejected):
        raise DataError(f"{len(chosen)} chosen but {len(rejected)} rejected scores to compare")
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    ties = sum(abs(m) <= TIE_TOLERANCE for m in margins)
    wins = sum(m > TIE_TOLERANCE for m in margins) + ties / 2
    low, high = wilson_interval(wins, len(margins))
    return {
        "accuracy": wins / len(margins),
        "accuracy_low": low,
        "accuracy_high": high,
        "mean_margin": sum(margins) / len(margins),
        "ties": float(ties),
        "n": float(len(margins)),
    }


def reward_accuracy_of(
    model: Any, tokenizer: Any, fmt: PairFormat, rows: list[dict[str, Any]], *, batch_size: int = 16
) -> dict[str, float]:
    """``pairwise_accuracy`` of a loaded reward model on preference rows, scored in ``fmt``."""
    items = [(r.get("prompt"), r[side]) for side in ("chosen", "rejected") for r in rows]
    values = score_completions(model, tokenizer, fmt, items, batch_size=batch_size)
    return pairwise_accuracy(values[: len(rows)], values[len(rows) :])


def evaluate_reward_accuracy(
    *, reward_model: str | Path, data: str | Path, batch_size: int = 16
) -> dict[str, float]:
    """``pairwise_accuracy`` of a reward model on preference rows (chosen > rejected),
    formatted and truncated exactly as in its training."""
    rows = data_read(data, "reward").rows
    model, tokenizer = reward_model_load(reward_model)
    fmt = reward_format_load(reward_model, tokenizer)
    return reward_accuracy_of(model, tokenizer, fmt, rows, batch_size=batch_size)


def evaluate_win_rate(
    *,
    policy: str | Path,
    baseline: str | Path,
    reward_model: str | Path,
    prompts: list[list[dict[str, str]]],
    config: GenerateConfig | None = None,
) -> WinRate:
    """How often `policy`'s answer outscores `baseline`'s on the same prompt, by `reward_model`.

    Both models sample `num_return_sequences` answers per prompt with the same settings and seed;
    answer i of the policy is compared with answer i of the baseline. The interval is a 95% Wilson
    score interval over those comparisons, ties counted as half a win.
    """
    config = build_config(GenerateConfig, dataclasses.asdict(config or GenerateConfig()))
    prompts_check(prompts)
    judge, judge_tokenizer = reward_model_load(reward_model)
    judge_format = reward_format_load(reward_model, judge_tokenizer)  # as it was trained
    judged: dict[str, list[float]] = {}
    for name, path in (("policy", policy), ("baseline", baseline)):
        model, tokenizer = causal_lm_for_inference(path)
        answers = sample(model, tokenizer, prompts, config)
        del model
        items = [
            (prompt, [{"role": "assistant", "content": answer}])
            for prompt, group in zip(prompts, answers, strict=True)
            for answer in group
        ]
        judged[name] = score_completions(judge, judge_tokenizer, judge_format, items)
    wins = losses = ties = 0
    for mine, theirs in zip(judged["policy"], judged["baseline"], strict=True):
        if abs(mine - theirs) <= TIE_TOLERANCE:
            ties += 1
        elif mine > theirs:
            wins += 1
        else:
            losses += 1
    n = wins + losses + ties
    low, high = wilson_interval(wins + ties / 2, n)
    return WinRate(
        wins=wins,
        losses=losses,
        ties=ties,
        n=n,
        win_rate=(wins + ties / 2) / n,
        ci_low=low,
        ci_high=high,
    )


def evaluate_text_metrics(*, predictions: list[str], references: list[str]) -> dict[str, float]:
    """{"bleu", "rouge1", "rouge2", "rougeL"}: corpus BLEU (sacrebleu, 0-100) and mean ROUGE F1."""
    if not predictions:
        raise DataError("no predictions to score")
    if len(predictions) != len(references):
        raise DataError(
            f"{len(predictions)} predictions but {len(references)} references; they pair one to one"
        )
    # optional text metrics, loaded when a reference metric is asked for
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(predictions, [references]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for prediction, reference in zip(predictions, references, strict=True):
        for key, score in scorer.score(reference, prediction).items():
            totals[key] += score.fmeasure
    return {"bleu": float(bleu), **{k: v / len(predictions) for k, v in totals.items()}}
