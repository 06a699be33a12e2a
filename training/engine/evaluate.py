"""Evaluation: reward-model accuracy, win rate judged by a reward model, BLEU and ROUGE."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from training.engine.config import GenerateConfig, build_config
from training.engine.data import data_read
from training.engine.errors import DataError
from training.engine.generate import (
    causal_lm_for_inference,
    chat_text,
    device,
    prompts_check,
    sample,
)
from training.engine.results import WinRate

Z_95 = 1.959963984540054
TIE_TOLERANCE = 1e-6


def reward_model_load(name: str | Path) -> tuple[Any, Any]:
    """(reward model, tokenizer) for scoring: one output, eval mode, right padding."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.engine.runtime import libraries_quiet, model_check

    libraries_quiet()
    model_check(str(name), what="reward model")
    tokenizer = AutoTokenizer.from_pretrained(name)
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device()).eval(), tokenizer


def scores(model: Any, tokenizer: Any, texts: list[str], *, batch_size: int = 16) -> list[float]:
    """The reward model's scalar score of each full text."""
    import torch

    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=min(tokenizer.model_max_length, 4096),
            add_special_tokens=False,
        ).to(model.device)
        with torch.inference_mode():
            logits = model(**encoded).logits
        out.extend(float(x) for x in logits[:, 0].float().cpu())
    return out


def _pair_text(tokenizer: Any, prompt: Any, completion: Any) -> str:
    """prompt + completion as the reward trainer saw it (chat template, or strings plus EOS)."""
    if isinstance(completion, list):
        messages = (prompt or []) + completion
        return chat_text(tokenizer, messages, add_generation_prompt=False)
    text = (prompt or "") + completion
    eos = tokenizer.eos_token or ""
    return text if text.endswith(eos) else text + eos


def evaluate_reward_accuracy(*, reward_model: str | Path, data: str | Path) -> dict[str, float]:
    """{"accuracy", "mean_margin", "n"} of a reward model on preference rows (chosen > rejected)."""
    rows = data_read(data, "reward").rows
    model, tokenizer = reward_model_load(reward_model)
    chosen = scores(
        model, tokenizer, [_pair_text(tokenizer, r.get("prompt"), r["chosen"]) for r in rows]
    )
    rejected = scores(
        model, tokenizer, [_pair_text(tokenizer, r.get("prompt"), r["rejected"]) for r in rows]
    )
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return {
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "mean_margin": sum(margins) / len(margins),
        "n": float(len(margins)),
    }


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion (ties count as half a success)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


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
    judged: dict[str, list[float]] = {}
    for name, path in (("policy", policy), ("baseline", baseline)):
        model, tokenizer = causal_lm_for_inference(path)
        answers = sample(model, tokenizer, prompts, config)
        del model
        texts = [
            chat_text(
                judge_tokenizer,
                [*prompt, {"role": "assistant", "content": answer}],
                add_generation_prompt=False,
            )
            for prompt, group in zip(prompts, answers, strict=True)
            for answer in group
        ]
        judged[name] = scores(judge, judge_tokenizer, texts)
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
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(predictions, [references]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for prediction, reference in zip(predictions, references, strict=True):
        for key, score in scorer.score(reference, prediction).items():
            totals[key] += score.fmeasure
    return {"bleu": float(bleu), **{k: v / len(predictions) for k, v in totals.items()}}
