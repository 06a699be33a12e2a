"""The engine's held-out split is by prompt: no prompt has rows on both sides."""

from training.engine.data import data_split, prompt_key


def _rows(prompts: int, per_prompt: int) -> list[dict[str, object]]:
    return [
        {"prompt": f"question {p}", "chosen": f"good {p}.{n}", "rejected": f"bad {p}.{n}"}
        for p in range(prompts)
        for n in range(per_prompt)
    ]


def test_no_prompt_is_on_both_sides() -> None:
    rows = _rows(prompts=40, per_prompt=3)  # a 4-way ranking gives 3+ pairs of one prompt
    train, held = data_split(rows, eval_fraction=0.2, seed=0)
    assert len(train) + len(held) == len(rows)
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in held})
    assert 0.15 <= len(held) / len(rows) <= 0.25
    assert all(sum(r["prompt"] == h["prompt"] for r in held) == 3 for h in held)


def test_split_follows_the_seed_and_keeps_one_prompt_for_training() -> None:
    rows = _rows(prompts=10, per_prompt=2)
    assert data_split(rows, eval_fraction=0.3, seed=1) == data_split(
        rows, eval_fraction=0.3, seed=1
    )
    assert data_split(rows, eval_fraction=0.3, seed=1) != data_split(
        rows, eval_fraction=0.3, seed=2
    )
    train, _ = data_split(rows, eval_fraction=0.99, seed=0)
    assert len({r["prompt"] for r in train}) == 1 and len(train) == 2


def test_a_single_prompt_is_split_by_row() -> None:
    rows = _rows(prompts=1, per_prompt=10)
    train, held = data_split(rows, eval_fraction=0.2, seed=0)
    assert (len(train), len(held)) == (8, 2)


def test_implicit_prompts_share_their_key() -> None:
    first = {
        "chosen": "\n\nHuman: hi\n\nAssistant: hello there",
        "rejected": "\n\nHuman: hi\n\nAssistant: go away",
    }
    second = {
        "chosen": "\n\nHuman: hi\n\nAssistant: hey",
        "rejected": "\n\nHuman: hi\n\nAssistant: hello friend",
    }
    assert prompt_key(first) == prompt_key(second) == "\n\nHuman: hi\n\n"
    messages = {
        "chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}],
    }
    assert prompt_key(messages) == prompt_key({**messages, "chosen": messages["rejected"]})
