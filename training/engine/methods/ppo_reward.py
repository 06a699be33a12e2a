"""PPO's reward in the reward model's recorded format, through the interface TRL's PPO reads.

TRL 1.12's PPOTrainer scores each rollout with ``trl.experimental.utils.get_reward(reward_model,
query_responses, pad_token_id, context_length)``: the *policy's* token ids go straight into the
reward model's backbone (``getattr(model, model.base_model_prefix)``), its ``score`` head runs on
the last hidden state, and the score is read at the response's last non-pad token. That is right
only for a reward model that shares the policy's tokenizer and was trained on exactly those
tokens. An encoder reward model (its own vocabulary, a text pair, a ``classifier`` and not a
``score`` head) crashes on the first rollout (``IndexError`` in its embedding); a causal reward
model trained on the chat template's text is read at another token than the one it was trained
to score (the template's ``<|im_end|>\\n`` ends in a newline; TRL stops at ``<|im_end|>``).

The module built here is what PPOTrainer gets as ``reward_model``. It offers the two attributes
get_reward reads: its backbone turns each rollout back into text (the training prompt's messages
and the decoded response), scores it with ``formatting.score_completions`` and the card's
``reward_format``, exactly as evaluation, the promotion gate, GRPO and RLOO do, and returns that
score at every position as its last hidden state; the ``score`` head is the identity, so
get_reward's read at the response end is the score. No TRL function is patched.

get_reward does not hand ``context_length`` to the backbone, so the prompt is found again: the
queries are the training prompts, left-padded to the batch's longest, so each row's prompt is a
known query starting right after its leading padding, and every row of the call ends its prompt
at the same column (the one all rows agree on).
"""

from __future__ import annotations

from typing import Any

from training.engine.errors import EngineError
from training.engine.formatting import PairFormat, score_completions

MASKED = -1  # a padded position in a row's key (token ids are never negative)


class PromptIndex:
    """The training queries (token ids -> prompt messages), found again at a rollout's start."""

    def __init__(self, queries: list[tuple[list[int], Any]], pad_token_id: int) -> None:
        self.by_key: dict[tuple[int, ...], Any] = {}
        for ids, prompt in queries:
            key = _key(ids, [t != pad_token_id for t in ids])
            self.by_key[key[_lead(key) :]] = prompt
        self.lengths = sorted({len(key) for key in self.by_key}, reverse=True)

    def ends(self, key: tuple[int, ...]) -> dict[int, Any]:
        """Every column where a known query, right after the row's padding, could end."""
        lead = _lead(key)
        found = {}
        for n in self.lengths:
            prompt = self.by_key.get(key[lead : lead + n])
            if prompt is not None:
                found[lead + n] = prompt
        return found


def _key(ids: list[int], mask: list[bool]) -> tuple[int, ...]:
    return tuple(t if m else MASKED for t, m in zip(ids, mask, strict=True))


def _lead(key: tuple[int, ...]) -> int:
    return next((i for i, t in enumerate(key) if t != MASKED), len(key))


def rollouts_split(
    index: PromptIndex, rows: list[list[int]], masks: list[list[bool]]
) -> list[tuple[Any, list[int]]]:
    """(prompt messages, response token ids) of each row of one get_reward call."""
    keys = [_key(ids, mask) for ids, mask in zip(rows, masks, strict=True)]
    candidates = [index.ends(key) for key in keys]
    common = set.intersection(*(set(c) for c in candidates)) if candidates else set()
    if not common:
        raise EngineError(
            "PPO scored a rollout that does not start with one of its training prompts"
        )
    end = max(common)  # a prompt that is a prefix of a longer one: the longer is the query
    return [
        (found[end], [t for t in key[end:] if t != MASKED])
        for key, found in zip(keys, candidates, strict=True)
    ]


def recorded_format_reward_model(
    model: Any,
    tokenizer: Any,
    fmt: PairFormat,
    *,
    policy_tokenizer: Any,
    queries: list[tuple[list[int], Any]],
    batch_size: int,
) -> Any:
    """The reward model as PPOTrainer's ``reward_model``: it scores each rollout's text with its
    own tokenizer and recorded format. ``queries`` are the training set's (input ids, prompt
    messages)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    index = PromptIndex(queries, policy_tokenizer.pad_token_id)

    class Hidden:
        def __init__(self, hidden: Any) -> None:
            self.hidden_states = (hidden,)

    class RecordedFormatScorer(torch.nn.Module):
        """Stands where get_reward expects the backbone; returns each row's score everywhere."""

        def __init__(self) -> None:
            super().__init__()
            self.reward_model = model.eval()

        def forward(self, *, input_ids: Any, attention_mask: Any, **_: Any) -> Hidden:
            split = rollouts_split(index, input_ids.tolist(), attention_mask.bool().tolist())
            texts = policy_tokenizer.batch_decode(
                [response for _, response in split], skip_special_tokens=True
            )
            items = [
                (prompt, [{"role": "assistant", "content": text}])
                for (prompt, _), text in zip(split, texts, strict=True)
            ]
            scores = score_completions(
                self.reward_model, tokenizer, fmt, items, batch_size=batch_size
            )
            column = torch.tensor(scores, dtype=torch.float32, device=input_ids.device)
            return Hidden(column[:, None, None].expand(-1, input_ids.shape[1], 1))

    class RecordedFormatRewardModel(torch.nn.Module):
        base_model_prefix = "recorded_format"

        def __init__(self) -> None:
            super().__init__()
            self.recorded_format = RecordedFormatScorer()
            self.score = torch.nn.Identity()
            self.config = model.config  # read by TRL's DeepSpeed preparation
            self.reward_format = fmt

        def forward(self, **kwargs: Any) -> Any:
            return self.score(self.recorded_format(**kwargs).hidden_states[-1])

    return RecordedFormatRewardModel()
