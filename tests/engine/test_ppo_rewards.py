"""PPO's rewards are the scores the reward model gives in its recorded format (as evaluation, the
gate, GRPO and RLOO give them), for an encoder and a causal reward model alike; a policy base PPO
cannot use is refused before training."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import FAST, preference_rows, write_jsonl
from training.engine import ConfigError, train
from training.engine.methods.ppo_reward import PromptIndex, rollouts_split

pytestmark = pytest.mark.slow

PPO_FAST = {**FAST, "max_steps": 2, "response_length": 6, "eval_fraction": 0.0}


def _texts(
    policy_tokenizer: Any, prompts: list[Any], query_responses: Any, context_length: int
) -> list[tuple[Any, Any]]:
    """(prompt messages, completion) of each rollout, cut where TRL says the query ends."""
    from training.engine.generate import chat_text

    by_text = {chat_text(policy_tokenizer, p, add_generation_prompt=True): p for p in prompts}
    pad = policy_tokenizer.pad_token_id
    items = []
    for row in query_responses.tolist():
        query = [t for t in row[:context_length] if t != pad]
        response = [t for t in row[context_length:] if t != pad]
        prompt = by_text[policy_tokenizer.decode(query, skip_special_tokens=False)]
        text = policy_tokenizer.decode(response, skip_special_tokens=True)
        items.append((prompt, [{"role": "assistant", "content": text}]))
    return items


@pytest.mark.parametrize("judge", ["bert_reward_model", "reward_model"])
def test_ppo_rewards_are_the_recorded_format_scores_of_its_rollouts(
    judge: str,
    tiny_model: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import trl.experimental.ppo.ppo_trainer as ppo_trainer
    from transformers import AutoTokenizer

    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions

    judge_dir: Path = request.getfixturevalue(judge)
    seen: list[tuple[Any, int, Any]] = []
    real_get_reward = ppo_trainer.get_reward

    def get_reward_seen(model: Any, query_responses: Any, pad: int, context_length: int) -> Any:
        # TRL's own function, called through; what it returns for the reward model is recorded
        out = real_get_reward(model, query_responses, pad, context_length)
        if hasattr(model, "reward_format"):
            seen.append((query_responses.clone(), context_length, out[1].clone()))
        return out

    monkeypatch.setattr(ppo_trainer, "get_reward", get_reward_seen)
    prompts = [r["prompt"] for r in preference_rows(8)]
    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in prompts])

    result = train(
        "ppo",
        data=data,
        base=str(tiny_model),
        out=tmp_path / "run",
        config=PPO_FAST,
        reward_model=str(judge_dir),
    )

    assert result.steps == 2 and len(seen) == 2  # one rollout batch of 4 per step
    policy_tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model, tokenizer = reward_model_load(judge_dir)
    fmt = reward_format_load(judge_dir, tokenizer)
    for query_responses, context_length, given in seen:
        items = _texts(policy_tokenizer, prompts, query_responses, context_length)
        recorded = [score_completions(model, tokenizer, fmt, [it], batch_size=1)[0] for it in items]
        assert given.tolist() == pytest.approx(recorded, abs=1e-4)
    # the score PPO logs (no missing-EOS penalty) is the mean of the last batch's rewards
    last = seen[-1][2]
    assert result.metrics["objective/scores"] == pytest.approx(float(last.mean()), abs=1e-5)
    card = json.loads((result.model_dir / "card.json").read_text())
    # an encoder reads its own vocabulary: the value model (which reads the policy's ids)
    # starts from the policy's base; a causal reward model with the policy's tokenizer is used
    value_from = tiny_model if judge == "bert_reward_model" else judge_dir
    assert card["value_model"] == str(value_from)


def test_trl_would_have_scored_the_policys_tokens_at_another_position(
    reward_model: Path, tiny_model: Path
) -> None:
    """Why the wrapper exists for a causal reward model too: TRL's own get_reward on the
    policy's ids reads the score at the end token; training read the chat template's text."""
    import torch
    from transformers import AutoTokenizer
    from trl.experimental.utils import get_reward

    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions
    from training.engine.generate import chat_text
    from training.engine.methods.ppo_reward import recorded_format_reward_model

    policy_tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model, tokenizer = reward_model_load(reward_model)
    fmt = reward_format_load(reward_model, tokenizer)
    rows: list[dict[str, Any]] = preference_rows(4)
    queries = [
        policy_tokenizer(chat_text(policy_tokenizer, r["prompt"], add_generation_prompt=True))[
            "input_ids"
        ]
        for r in rows
    ]
    responses = [
        policy_tokenizer(r["chosen"][0]["content"] + "<|im_end|>")["input_ids"] for r in rows
    ]
    pad = policy_tokenizer.pad_token_id
    width_q, width_r = max(map(len, queries)), max(map(len, responses))
    batch = torch.tensor(
        [
            [pad] * (width_q - len(q)) + q + r + [pad] * (width_r - len(r))
            for q, r in zip(queries, responses, strict=True)
        ]
    )
    scorer = recorded_format_reward_model(
        model,
        tokenizer,
        fmt,
        policy_tokenizer=policy_tokenizer,
        queries=[(q, r["prompt"]) for q, r in zip(queries, rows, strict=True)],
        batch_size=3,
    )

    _, ours, _ = get_reward(scorer, batch, pad, width_q)
    _, trls, _ = get_reward(model, batch, pad, width_q)

    recorded = score_completions(model, tokenizer, fmt, [(r["prompt"], r["chosen"]) for r in rows])
    assert ours.tolist() == pytest.approx(recorded, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(trls.tolist(), recorded, strict=True)) > 1e-3


def test_a_prompt_that_begins_another_is_told_apart_by_the_batch() -> None:
    short, long = [5, 6, 7], [5, 6, 7, 8, 9]
    index = PromptIndex([(short, "short"), (long, "long")], pad_token_id=0)
    rows = [
        [0, 0, 5, 6, 7, 8, 9, 4, 0],  # the short prompt, whose answer begins like the long one
        [5, 6, 7, 8, 9, 3, 3, 0, 0],
    ]
    masks = [[t != 0 for t in row] for row in rows]

    assert rollouts_split(index, rows, masks) == [("short", [8, 9, 4]), ("long", [3, 3])]
    # alone, a row of the long prompt is read as the long prompt (not its short beginning)
    assert rollouts_split(index, rows[1:], masks[1:]) == [("long", [3, 3])]


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo"])
def test_online_methods_refuse_an_encoder_as_their_policy_before_training(
    method: str, tiny_bert: Path, reward_model: Path, tmp_path: Path
) -> None:
    data = write_jsonl(
        tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in preference_rows(8)]
    )

    online = {**FAST, "max_steps": 2, "num_generations": 2, "max_completion_length": 6}

    with pytest.raises(ConfigError) as caught:
        train(
            method,
            data=data,
            base=str(tiny_bert),
            out=tmp_path / "run",
            config=PPO_FAST if method == "ppo" else online,
            reward_model=str(reward_model),
        )

    assert caught.value.field == "base"
    assert "no end-of-sequence token" in str(caught.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
