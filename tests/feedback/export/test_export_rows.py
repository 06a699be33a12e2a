from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User

from core.errors import ValidationError
from feedback.export import ExportStream, export_params_parse, export_rows
from feedback.models import Judgement, Project
from tests.feedback.export.conftest import JudgeFn, MakeItem

pytestmark = pytest.mark.django_db


def rows(project: Project, **query: str) -> list[dict[str, Any]]:
    return list(export_rows(project=project, params=export_params_parse(query)))


def test_trl_rows_render_the_prompt_and_give_every_pair_of_a_ranking(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b, c) = make_item("q1", "Why is the sky blue?", ["Rayleigh.", "Magic.", "Dunno."])
    judge(item, annotators[0], [[b], [a], [c]])

    out = rows(project, format="trl")

    prompt = "User: Why is the sky blue?\n\nAssistant:"
    assert out == [
        {"prompt": prompt, "chosen": " Magic.", "rejected": " Rayleigh."},
        {"prompt": prompt, "chosen": " Magic.", "rejected": " Dunno."},
        {"prompt": prompt, "chosen": " Rayleigh.", "rejected": " Dunno."},
    ]


def test_system_and_earlier_turns_are_rendered_in_order(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a colour."},
    ]
    item, (a, b) = make_item("q1", messages, ["Red.", "Seven."])
    judge(item, annotators[0], [[a], [b]])

    (trl,) = rows(project, format="trl")
    (hh,) = rows(project, format="hh-rlhf")
    (conv,) = rows(project, format="trl-conversational")
    (implicit,) = rows(project, format="trl-implicit")

    assert trl["prompt"] == (
        "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nUser: Name a colour.\n\nAssistant:"
    )
    assert hh == {
        "chosen": "\n\nSystem: Be brief.\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Name a colour."
        "\n\nAssistant: Red.",
        "rejected": "\n\nSystem: Be brief.\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Name a "
        "colour.\n\nAssistant: Seven.",
    }
    assert conv == {
        "prompt": messages,
        "chosen": [{"role": "assistant", "content": "Red."}],
        "rejected": [{"role": "assistant", "content": "Seven."}],
    }
    assert implicit["chosen"] == [*messages, {"role": "assistant", "content": "Red."}]
    assert implicit["rejected"][-1] == {"role": "assistant", "content": "Seven."}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("all", [("A", "B"), ("A", "C"), ("A", "D"), ("B", "D"), ("C", "D")]),
        ("best-vs-rest", [("A", "B"), ("A", "C"), ("A", "D")]),
        ("best-vs-worst", [("A", "D")]),
    ],
)
def test_pair_modes_turn_a_ranking_with_a_tie_into_the_documented_pairs(
    project: Project,
    annotators: list[User],
    make_item: MakeItem,
    judge: JudgeFn,
    mode: str,
    expected: list[tuple[str, str]],
) -> None:
    item, (a, b, c, d) = make_item("q1", "p", ["A", "B", "C", "D"])
    judge(item, annotators[0], [[a], [c, b], [d]])

    out = rows(project, format="trl", pairs=mode)

    assert [(r["chosen"].strip(), r["rejected"].strip()) for r in out] == expected


def test_ties_give_pairs_with_margin_zero_only_when_asked(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b, c) = make_item("q1", "p", ["A", "B", "C"])
    judge(item, annotators[0], [[b, a], [c]])

    skipped = rows(project, format="trl")
    with_ties = rows(project, format="trl", ties="margin0")

    assert [(r["chosen"], r["rejected"]) for r in skipped] == [(" A", " C"), (" B", " C")]
    assert [(r["chosen"], r["rejected"], r["margin"]) for r in with_ties] == [
        (" A", " B", 0.0),
        (" A", " C", 1.0),
        (" B", " C", 1.0),
    ]


def test_rating_difference_margin_uses_the_annotators_ratings(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b, c) = make_item("q1", "p", ["A", "B", "C"])
    judge(item, annotators[0], [[a], [b], [c]], ratings={a: 5, b: 2, c: 1})

    by_rank = rows(project, format="trl", margin="rank-distance")
    by_rating = rows(project, format="trl", margin="rating-difference")

    assert [r["margin"] for r in by_rank] == [1.0, 2.0, 1.0]
    assert [r["margin"] for r in by_rating] == [3.0, 4.0, 1.0]


def test_consensus_follows_the_majority_and_scores_agreement(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b) = make_item("q1", "p", ["A", "B"])
    judge(item, annotators[0], [[a], [b]])
    judge(item, annotators[1], [[a], [b]])
    judge(item, annotators[2], [[b], [a]])
    unanimous, (c, d) = make_item("q2", "p2", ["C", "D"])
    judge(unanimous, annotators[0], [[d], [c]])
    judge(unanimous, annotators[1], [[d], [c]])

    pairs = rows(project, format="trl", aggregate="consensus")
    ranked = rows(project, format="rankings", aggregate="consensus")
    strict = rows(project, format="trl", aggregate="consensus", min_agreement="0.9")
    two_or_more = rows(project, format="trl", aggregate="none", min_judgements="3")

    assert [(r["chosen"], r["rejected"]) for r in pairs] == [(" A", " B"), (" D", " C")]
    assert [r["agreement"] for r in ranked] == [pytest.approx(2 / 3), 1.0]
    assert ranked[0]["ranking"] == [[a.pk], [b.pk]]
    assert ranked[0]["judgement_count"] == 3
    assert [(r["chosen"], r["rejected"]) for r in strict] == [(" D", " C")]
    assert len(two_or_more) == 3  # only q1 has three judgements; one pair each


def test_filters_narrow_by_time_annotator_source_and_flags(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    first, (a, b) = make_item("q1", "p", ["A", "B"])
    second, (c, d) = make_item("q2", "p", ["C", "D"])
    old = judge(first, annotators[0], [[a], [b]])
    judge(first, annotators[1], [[b], [a]], source="imported")
    judge(second, annotators[0], [[c], [d]], flag_reason="offensive prompt")
    judge(second, annotators[1], [], not_rankable=True, flag_reason="gibberish")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    Judgement.objects.filter(pk=old.pk).update(created_at=long_ago)

    def chosen(**query: str) -> list[str]:
        return [r["chosen"] for r in rows(project, format="trl", **query)]

    assert chosen() == [" A", " B", " C"]
    assert chosen(since="2021-01-01") == [" B", " C"]
    assert chosen(until=(long_ago + timedelta(days=1)).isoformat()) == [" A"]
    assert chosen(annotator=annotators[1].username) == [" B"]
    assert chosen(annotator=str(annotators[0].pk)) == [" A", " C"]
    assert chosen(source="imported") == [" B"]
    assert chosen(source="human") == [" A", " C"]
    assert chosen(exclude_flagged="true") == [" A", " B"]
    assert len(rows(project, format="rankings")) == 4
    assert len(rows(project, format="rankings", exclude_flagged="1")) == 2


def test_split_puts_each_item_on_one_side_and_repeats_exactly(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    for n in range(40):
        item, (a, b) = make_item(f"item-{n}", f"prompt {n}", [f"good {n}", f"bad {n}"])
        judge(item, annotators[0], [[a], [b]])
        judge(item, annotators[1], [[a], [b]])

    train = rows(project, format="trl", split="train", test_fraction="0.25")
    test = rows(project, format="trl", split="test", test_fraction="0.25")

    train_prompts = {r["prompt"] for r in train}
    test_prompts = {r["prompt"] for r in test}
    assert train_prompts.isdisjoint(test_prompts)
    assert len(train_prompts | test_prompts) == 40
    assert 3 <= len(test_prompts) <= 20
    assert len(train) + len(test) == 80
    assert rows(project, format="trl", split="test", test_fraction="0.25") == test


def test_split_is_by_prompt_so_items_asking_the_same_prompt_share_a_side(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    # three items per prompt, as rows of one real source often are (HH-RLHF's rejection
    # sampling pairs several answers to one conversation): never split across the sides
    for n in range(20):
        for copy in range(3):
            item, (a, b) = make_item(f"item-{n}-{copy}", f"prompt {n}", [f"good {copy}", "bad"])
            judge(item, annotators[0], [[a], [b]])

    train = rows(project, format="trl", split="train", test_fraction="0.3")
    test = rows(project, format="trl", split="test", test_fraction="0.3")

    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in test})
    assert len(train) + len(test) == 60
    assert test and len(test) % 3 == 0


def test_kto_labels_come_from_ratings_when_there_are_some_else_from_pairs(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    rated, (a, b, c) = make_item("q1", "p", ["A", "B", "C"])
    judge(rated, annotators[0], [[a], [b], [c]], ratings={a: 5, b: 3, c: 1})
    unrated, (d, e) = make_item("q2", "p", ["D", "E"])
    judge(unrated, annotators[0], [[d], [e]])
    both_bad, (f, g) = make_item("q3", "p", ["F", "G"])
    judge(both_bad, annotators[0], [[f], [g]], both_bad=True)

    out = [(r["completion"], r["label"]) for r in rows(project, format="kto")]

    # Rating 3 is the middle of the 1-5 scale: neither desirable nor undesirable.
    assert out == [
        (" A", True),
        (" C", False),
        (" D", True),
        (" E", False),
        (" F", False),
        (" G", False),
    ]


def test_rankings_format_keeps_everything_about_a_judgement(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b) = make_item("q1", "p", ["A", "B"])
    judgement = judge(
        item,
        annotators[0],
        [[b], [a]],
        ratings={a: 2, b: 4},
        rationale="B cites a source.",
        shown_order=[a.pk, b.pk],
        time_spent_ms=5300,
    )

    (row,) = rows(project, format="rankings")

    assert row["judgement_id"] == judgement.pk
    assert row["item"]["external_id"] == "q1"
    assert [r["content"] for r in row["responses"]] == ["A", "B"]
    assert row["ranking"] == [[b.pk], [a.pk]]
    assert row["ratings"] == {str(a.pk): 2, str(b.pk): 4}
    assert row["rationale"] == "B cites a source."
    assert row["annotator"] == {"id": annotators[0].pk, "username": "annotator0"}
    assert row["time_spent_ms"] == 5300
    assert row["shown_order"] == [a.pk, b.pk]
    assert row["created_at"].endswith("Z")


def test_stream_is_json_lines_with_count_and_hash_and_the_same_every_time(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    for n in range(30):
        item, (a, b, c) = make_item(f"q{n}", f"Question {n} ünïcødé \u2028", ["x" * n, "y", "z"])
        judge(item, annotators[n % 3], [[c], [a, b]])
    params = export_params_parse({"format": "trl"})

    first = ExportStream(project=project, params=params, chunk_bytes=500)
    body = b"".join(first)
    second = ExportStream(project=project, params=params)
    again = b"".join(second)

    lines = body.splitlines()
    assert len(lines) == first.row_count == 60
    assert all(orjson.loads(line)["prompt"].startswith("User: Question") for line in lines)
    assert body == again and first.sha256 == second.sha256
    assert first.byte_size == len(body)


def test_old_versions_of_a_judgement_are_not_exported(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (a, b) = make_item("q1", "p", ["A", "B"])
    old = judge(item, annotators[0], [[a], [b]], is_current=False)
    judge(item, annotators[0], [[b], [a]], version=2, previous=old)

    assert [r["chosen"] for r in rows(project)] == [" B"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"pairs": "some"}, "pairs"),
        ({"ties": "yes"}, "ties"),
        ({"margin": "big"}, "margin"),
        ({"aggregate": "mean"}, "aggregate"),
        ({"min_agreement": "1.5"}, "min_agreement"),
        ({"min_agreement": "nan"}, "min_agreement"),
        ({"min_judgements": "0"}, "min_judgements"),
        ({"min_judgements": "two"}, "min_judgements"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"since": "2026-01-02", "until": "2026-01-01"}, "until"),
        ({"source": "model"}, "source"),
        ({"exclude_flagged": "maybe"}, "exclude_flagged"),
        ({"split": "valid"}, "split"),
        ({"split": "test", "test_fraction": "-0.1"}, "test_fraction"),
        ({"test_fraction": "0.2"}, "test_fraction"),
        ({"format": "kto", "margin": "rank-distance"}, "margin"),
        ({"format": "kto", "ties": "margin0"}, "ties"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        export_params_parse(query)
    assert field in caught.value.details


def test_parameters_round_trip_through_their_query_form() -> None:
    params = export_params_parse(
        {"format": "kto", "pairs": "best-vs-rest", "since": "2026-01-01", "split": "test"}
    )
    assert export_params_parse(params.as_query()) == params


def test_empty_answers_are_exported_and_identical_answers_give_no_pair(
    project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn
) -> None:
    item, (silent, same_1, same_2) = make_item("q-empty", "Say nothing?", ["", "Yes.", "Yes."])
    judge(item, annotators[0], [[silent], [same_1], [same_2]])

    out = rows(project, format="trl")

    prompt = "User: Say nothing?\n\nAssistant:"
    assert out == [
        {"prompt": prompt, "chosen": " ", "rejected": " Yes."},
        {"prompt": prompt, "chosen": " ", "rejected": " Yes."},
    ]  # the empty reply is a real answer; "Yes." against "Yes." carries no preference
