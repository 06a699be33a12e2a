"""How a preference pair becomes the tokens a reward model reads, in training and in scoring alike.

The format is chosen from the base model itself and recorded in the model's card, so every later
scorer (held-out evaluation, the promotion gate's win rate, online-RL rewards) reads a text the
way the model was trained on it:

- ``text-pair``: encoders (BERT-like: MiniLM, DeBERTa; no EOS token, a separator token): the
  prompt and the response as a text pair with the tokenizer's own special tokens
  (``[CLS] prompt [SEP] response [SEP]``).
- ``causal``: causal LMs: the conversation through the tokenizer's chat template (or a plain
  ``role: content`` transcript when it has none), or for plain strings ``prompt + completion``
  ending with the EOS token.

Long rows are truncated, never dropped: the response is kept and the prompt loses its beginning
(its last turns stay, as DPO's ``keep_end``). Only when the response alone is longer than
``max_length`` is the response cut too (its end token is kept); both cases are counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.engine.errors import ModelNotFoundError
from training.engine.hardware import precision_resolve

TEXT_PAIR = "text-pair"
CAUSAL = "causal"
FALLBACK_MAX_LENGTH = 1024


@dataclass(frozen=True)
class PairFormat:
    """The recorded formatting of a reward model (kept in its card under ``reward_format``)."""

    kind: str
    max_length: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Truncation:
    """What the length rule did to a set of rows (nothing is ever dropped)."""

    rows: int = 0
    prompt_truncated: int = 0
    response_truncated: int = 0
    max_length: int = 0
    longest_tokens: int = 0
    dropped: int = field(default=0)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def format_choose(tokenizer: Any, *, max_length: int, base: str) -> PairFormat:
    """The format for a base, from its tokenizer; a base the engine cannot use is a clear error.
    ``max_length`` never exceeds what the tokenizer says its model reads (a 512-position
    encoder given 1024 tokens would fail on the first long row, in training or in scoring)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < max_length:
        max_length = limit
    if tokenizer.eos_token is None:
        if tokenizer.sep_token is None:
            raise ModelNotFoundError(
                f"base model {base} has neither an end-of-sequence token (a causal LM) nor a "
                "separator token (an encoder): the engine cannot tell where a response ends"
            )
        return PairFormat(kind=TEXT_PAIR, max_length=max_length)
    return PairFormat(kind=CAUSAL, max_length=max_length)


def format_of_model(name: str | Path, tokenizer: Any) -> PairFormat:
    """The format recorded in a trained reward model's card (older models: from the tokenizer)."""
    card = Path(name) / "card.json"
    if str(name) and card.is_file():
        recorded = json.loads(card.read_text(encoding="utf-8")).get("reward_format")
        if isinstance(recorded, dict) and recorded.get("kind") in (TEXT_PAIR, CAUSAL):
            return PairFormat(kind=recorded["kind"], max_length=int(recorded["max_length"]))
    limit = min(int(getattr(tokenizer, "model_max_length", FALLBACK_MAX_LENGTH)), 4096)
    return format_choose(tokenizer, max_length=limit, base=str(name))


def _transcript(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(f"{m['role']}: {m['content']}" for m in value)


def chat_text(
    tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool
) -> str:
    """The conversation as the model expects it: its chat template, or a plain transcript."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(text)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    if add_generation_prompt:
        lines.append("assistant:")
    return "\n".join(lines)


def _response_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(m["content"] for m in value)


def _causal_split(tokenizer: Any, prompt: Any, completion: Any) -> tuple[str, str]:
    """(prompt part, response part) of the full causal text; the two concatenate to it."""
    if isinstance(completion, list):
        messages = list(prompt or []) + list(completion)
        full = chat_text(tokenizer, messages, add_generation_prompt=False)
        cut = 0
        if prompt:
            for generation_prompt in (True, False):
                head = chat_text(tokenizer, list(prompt), add_generation_prompt=generation_prompt)
                if full.startswith(head):
                    cut = len(head)
                    break
            else:
                cut = next(
                    (i for i, (a, b) in enumerate(zip(full, head, strict=False)) if a != b),
                    min(len(full), len(head)),
                )
        return full[:cut], full[cut:]
    eos = tokenizer.eos_token or ""
    text = completion if completion.endswith(eos) else completion + eos
    return _transcript(prompt), text


def _fit(
    prompt: list[int], response: list[int], budget: int, *, keep_last: bool
) -> tuple[list[int], list[int], bool, bool]:
    """Keep the response and the end of the prompt within `budget` tokens."""
    if len(prompt) + len(response) <= budget:
        return prompt, response, False, False
    if len(response) >= budget:
        if keep_last and budget >= 2:
            response = response[: budget - 1] + response[-1:]
        else:
            response = response[:budget]
        return [], response, bool(prompt), True
    room = budget - len(response)
    return prompt[len(prompt) - room :], response, True, False


def _text_pair_encode(
    tokenizer: Any, max_length: int, prompt: Any, completion: Any
) -> tuple[list[int], bool, bool]:
    """The tokenizer's own text-pair encoding; too long: the prompt loses its start first."""
    prompt_text, response = _transcript(prompt), _response_text(completion)
    if prompt_text:
        encoding = tokenizer(prompt_text, response)
        response_sequence = 1
    else:
        encoding = tokenizer(response)
        response_sequence = 0
    ids = list(encoding["input_ids"])
    excess = len(ids) - max_length
    if excess <= 0:
        return ids, False, False
    try:
        sequences = encoding.sequence_ids()
    except (AttributeError, ValueError):
        raise ModelNotFoundError(
            "an encoder reward model needs a fast tokenizer (tokenizer.json) to truncate pairs"
        ) from None
    drop: set[int] = set()
    if response_sequence == 1:
        prompt_positions = [i for i, s in enumerate(sequences) if s == 0]
        drop.update(prompt_positions[:excess])
    cut_prompt = bool(drop)
    excess -= len(drop)
    cut_response = excess > 0
    if cut_response:
        response_positions = [i for i, s in enumerate(sequences) if s == response_sequence]
        drop.update(response_positions[len(response_positions) - excess :])
    return [t for i, t in enumerate(ids) if i not in drop], cut_prompt, cut_response


def pair_encode(
    tokenizer: Any, fmt: PairFormat, prompt: Any, completion: Any
) -> tuple[list[int], bool, bool]:
    """(input ids, prompt truncated, response truncated) of one prompt + completion."""
    if fmt.kind == TEXT_PAIR:
        return _text_pair_encode(tokenizer, fmt.max_length, prompt, completion)
    head, tail = _causal_split(tokenizer, prompt, completion)
    prompt_ids = tokenizer(head, add_special_tokens=False)["input_ids"] if head else []
    response_ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    p, r, cut_p, cut_r = _fit(prompt_ids, response_ids, fmt.max_length, keep_last=True)
    return p + r, cut_p, cut_r


def pairs_tokenize(
    tokenizer: Any, fmt: PairFormat, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Truncation]:
    """Preference rows as TRL's processed columns (chosen_ids, rejected_ids[, margin]
    [, weight])."""
    out: list[dict[str, Any]] = []
    stats = Truncation(rows=len(rows), max_length=fmt.max_length)
    for row in rows:
        encoded: dict[str, Any] = {}
        cut_prompt = cut_response = False
        for side in ("chosen", "rejected"):
            ids, cut_p, cut_r = pair_encode(tokenizer, fmt, row.get("prompt"), row[side])
            encoded[f"{side}_ids"] = ids
            cut_prompt, cut_response = cut_prompt or cut_p, cut_response or cut_r
        if "margin" in row:
            encoded["margin"] = float(row["margin"])
        if "weight" in row:
            encoded["weight"] = float(row["weight"])
        stats.prompt_truncated += cut_prompt
        stats.response_truncated += cut_response
        stats.longest_tokens = max(
            stats.longest_tokens, len(encoded["chosen_ids"]), len(encoded["rejected_ids"])
        )
        out.append(encoded)
    return out, stats


def score_ids(
    model: Any,
    pad_token_id: int,
    sequences: list[list[int]],
    *,
    batch_size: int,
    precision: str = "fp32",
) -> list[float]:
    """Scores of token sequences, batched by length (little padding), in the input order.

    ``precision`` as in training (``hardware.precision_resolve``): ``fp32`` (the default: the
    score a single full-precision forward pass gives, which the tests hold every scorer to);
    ``bf16``, or ``auto`` where bf16 is native, scores an fp32 model under bf16 autocast, the
    arithmetic it was trained in (``bench/cpu_precision.py --score`` measures the speed and
    how often the order of a pair changes)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    weights = next(model.parameters(), None)
    bf16 = (
        precision_resolve(precision) == "bf16"
        and weights is not None
        and weights.dtype == torch.float32
    )

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = [0.0] * len(sequences)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(sequences[i]) for i in batch)
        ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            seq = sequences[index]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with (
            torch.inference_mode(),
            torch.autocast(device_type=model.device.type, dtype=torch.bfloat16, enabled=bf16),
        ):
            logits = model(
                input_ids=ids.to(model.device), attention_mask=mask.to(model.device)
            ).logits
        for row, index in enumerate(batch):
            out[index] = float(logits[row, 0].float().cpu())
    return out


def score_completions(
    model: Any,
    tokenizer: Any,
    fmt: PairFormat,
    items: list[tuple[Any, Any]],
    *,
    batch_size: int = 16,
    precision: str = "fp32",
) -> list[float]:
    """The reward of each (prompt, completion), formatted and truncated as in training."""
    sequences = [pair_encode(tokenizer, fmt, p, c)[0] for p, c in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return score_ids(model, pad, sequences, batch_size=batch_size, precision=precision)
