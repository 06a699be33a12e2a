"""Each import format, from real files where we have them and from small files we write,
checked against the source: text unchanged, order and ties right, judgements imported."""

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import ValidationError
from feedback.models import Item, Judgement, Project, Response
from feedback.services.assignments import assignment_next
from feedback.services.imports import items_import
from feedback.services.projects import project_create
from tests.factories import user_make
from tests.feedback.importing import jsonl_write, stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    return project_create(name="Import", slug="import")


# --- TRL (files written here) -----------------------------------------------------------------

TRL_ROWS: list[dict[str, Any]] = [
    {"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "margin": 2.5},
    {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What color is the sky?"},
        ],
        "chosen": [{"role": "assistant", "content": "It is blue."}],
        "rejected": [{"role": "assistant", "content": "It is green."}],
    },
    {
        "chosen": [
            {"role": "user", "content": "Where is the sun?"},
            {"role": "assistant", "content": "In the sky."},
        ],
        "rejected": [
            {"role": "user", "content": "Where is the sun?"},
            {"role": "assistant", "content": "In the sea."},
        ],
    },
    {"chosen": "Q: 2+2? A: 4", "rejected": "Q: 2+2? A: 5", "id": "sum-1"},
]


@pytest.mark.parametrize("compress", [False, True], ids=["jsonl", "jsonl.gz"])
def test_trl_string_conversational_and_implicit_rows(
    project: Project, tmp_path: Path, compress: bool
) -> None:
    path = jsonl_write(tmp_path / "trl.jsonl", TRL_ROWS, compress=compress)
    result = items_import(project=project, source=path, format="trl", source_name="ultra")

    assert (result.items_created, result.responses_created, result.judgements_created) == (4, 8, 4)
    items = list(Item.objects.filter(project=project).order_by("id"))
    assert [stored(i) for i in items] == [
        {
            "messages": [{"role": "user", "content": "The sky is"}],
            "responses": [" blue.", " green."],
            "ranking": [[0], [1]],
        },
        {
            "messages": TRL_ROWS[1]["prompt"],
            "responses": ["It is blue.", "It is green."],
            "ranking": [[0], [1]],
        },
        {
            "messages": [{"role": "user", "content": "Where is the sun?"}],
            "responses": ["In the sky.", "In the sea."],
            "ranking": [[0], [1]],
        },
        {
            "messages": [{"role": "user", "content": "Q: 2+2? A:"}],
            "responses": [" 4", " 5"],
            "ranking": [[0], [1]],
        },
    ]
    assert items[0].metadata["trl"] == {"margin": 2.5}
    assert items[3].external_id == "sum-1"
    annotators = set(Judgement.objects.values_list("annotator__username", flat=True))
    assert annotators == {"import:ultra"}


def test_trl_implicit_prompt_is_cut_where_trl_cuts_it(project: Project, tmp_path: Path) -> None:
    from trl.data_utils import extract_prompt

    rows = [TRL_ROWS[2], TRL_ROWS[3]]
    items_import(project=project, source=jsonl_write(tmp_path / "i.jsonl", rows), format="trl")
    for row, item in zip(rows, Item.objects.filter(project=project).order_by("id"), strict=True):
        expected = extract_prompt(row)
        data = stored(item)
        if isinstance(expected["prompt"], str):
            assert data["messages"] == [{"role": "user", "content": expected["prompt"]}]
            assert data["responses"] == [expected["chosen"], expected["rejected"]]
        else:
            assert data["messages"] == expected["prompt"]
            assert data["responses"] == [
                expected["chosen"][0]["content"],
                expected["rejected"][0]["content"],
            ]


# --- HH-RLHF (files written here) -------------------------------------------------------------

HH_PROMPT = "\n\nHuman: How do I boil an egg?\n\nAssistant: Soft or hard?\n\nHuman: Hard, please."


def test_hh_rlhf_transcripts_are_split_into_prompt_and_two_replies(
    project: Project, tmp_path: Path
) -> None:
    rows = [
        {
            "chosen": HH_PROMPT + "\n\nAssistant: Boil it for ten minutes.\n",
            "rejected": HH_PROMPT + "\n\nAssistant: Microwave it.",
        }
    ]
    result = items_import(
        project=project, source=jsonl_write(tmp_path / "hh.jsonl", rows), format="hh-rlhf"
    )
    assert result.items_created == 1
    assert stored(Item.objects.get(project=project)) == {
        "messages": [
            {"role": "user", "content": "How do I boil an egg?"},
            {"role": "assistant", "content": "Soft or hard?"},
            {"role": "user", "content": "Hard, please."},
        ],
        "responses": ["Boil it for ten minutes.\n", "Microwave it."],
        "ranking": [[0], [1]],
    }


def test_hh_rlhf_transcript_without_leading_blank_line_is_accepted(
    project: Project, tmp_path: Path
) -> None:
    rows = [
        {"chosen": "Human: Hi\n\nAssistant: Hello.", "rejected": "Human: Hi\n\nAssistant: Go away."}
    ]
    items_import(project=project, source=jsonl_write(tmp_path / "hh.jsonl", rows), format="hh-rlhf")
    assert stored(Item.objects.get(project=project)) == {
        "messages": [{"role": "user", "content": "Hi"}],
        "responses": ["Hello.", "Go away."],
        "ranking": [[0], [1]],
    }


def test_hh_rlhf_quirks_empty_reply_kept_identical_and_diverging_skipped(
    project: Project, tmp_path: Path
) -> None:
    rows = [
        # 1: empty final chosen reply: kept, as an empty response
        {"chosen": HH_PROMPT + "\n\nAssistant:", "rejected": HH_PROMPT + "\n\nAssistant: No."},
        # 2: identical: skipped
        {
            "chosen": HH_PROMPT + "\n\nAssistant: Same.",
            "rejected": HH_PROMPT + "\n\nAssistant: Same.",
        },
        # 3: the transcripts differ before the last Assistant turn: skipped
        {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello.",
            "rejected": "\n\nHuman: Hey\n\nAssistant: Hello.",
        },
    ]
    result = items_import(
        project=project, source=jsonl_write(tmp_path / "hh.jsonl", rows), format="hh-rlhf"
    )
    assert (result.items_created, result.rows_skipped) == (1, 2)
    assert [(w["row"], w["message"][:28]) for w in result.warnings] == [
        (2, "chosen and rejected are iden"),
        (3, "chosen and rejected differ b"),
    ]
    assert stored(Item.objects.get(project=project))["responses"] == ["", "No."]


# --- native (files written here) --------------------------------------------------------------

NATIVE_ROWS: list[dict[str, Any]] = [
    {
        "external_id": "q-1",
        "prompt": "Write a haiku about tea.",
        "responses": [
            "Steam curls from the cup",
            {"content": "Leaves unfold", "model": "m-1"},
            "Tea.",
        ],
        "ranking": [[1], [0, 2]],
        "metadata": {"topic": "poetry"},
    },
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Sum 2 and 2."},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "Now times 3?"},
        ],
        "responses": ["12", "  twelve  \n"],
    },
]


def test_native_rows_keep_text_order_ties_and_metadata(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "native.json"
    path.write_text(json.dumps(NATIVE_ROWS), encoding="utf-8")  # a JSON array this time
    result = items_import(project=project, source=path, format="native")

    assert (result.items_created, result.responses_created, result.judgements_created) == (2, 5, 1)
    first, second = Item.objects.filter(project=project).order_by("id")
    assert first.external_id == "q-1"
    assert stored(first) == {
        "messages": [{"role": "user", "content": "Write a haiku about tea."}],
        "responses": ["Steam curls from the cup", "Leaves unfold", "Tea."],
        "ranking": [[1], [0, 2]],
    }
    assert first.metadata["topic"] == "poetry"
    assert first.metadata["import"] == {
        "format": "native",
        "source": "native",
        "file": "native.json",
        "row": 1,
    }
    by_model = first.responses.get(position=1)
    assert (by_model.source, by_model.model_name) == ("model", "m-1")
    assert stored(second) == {
        "messages": NATIVE_ROWS[1]["messages"],
        "responses": ["12", "  twelve  \n"],
        "ranking": None,  # nothing ranked yet: an item waiting for annotators
    }
    assert second.external_id.startswith("sha256:")


def test_prompt_only_rows_become_items_that_wait_for_generated_answers(
    project: Project, tmp_path: Path
) -> None:
    rows_native = [{"external_id": "p-1", "prompt": "Name a prime.", "responses": []}]
    rows_trl = [
        {"id": "p-2", "prompt": "Name a colour."},
        {"id": "p-3", "prompt": [{"role": "user", "content": "Hi"}], "source": "chat"},
    ]
    native = items_import(
        project=project, source=jsonl_write(tmp_path / "n.jsonl", rows_native), format="native"
    )
    trl = items_import(
        project=project, source=jsonl_write(tmp_path / "t.jsonl", rows_trl), format="trl"
    )
    assert (native.items_created, native.responses_created) == (1, 0)
    assert (trl.items_created, trl.responses_created, trl.judgements_created) == (2, 0, 0)
    items = {item.external_id: item for item in Item.objects.filter(project=project)}
    assert stored(items["p-1"]) == {
        "messages": [{"role": "user", "content": "Name a prime."}],
        "responses": [],
        "ranking": None,
    }
    assert items["p-3"].messages == [{"role": "user", "content": "Hi"}]
    assert items["p-3"].metadata["trl"] == {"source": "chat"}
    # Nothing to rank yet: no annotator is handed these items.
    annotator = user_make("ann", project=project)
    assert assignment_next(project=project, user=annotator) is None


def test_a_single_response_is_refused_with_the_way_out(project: Project, tmp_path: Path) -> None:
    rows = [{"prompt": "Q?", "responses": ["only one"]}, {"prompt": "R?"}]
    with pytest.raises(ValidationError) as refused:
        items_import(
            project=project, source=jsonl_write(tmp_path / "r.jsonl", rows), format="native"
        )
    messages = [error["message"] for error in refused.value.details["errors"]]
    assert "give [] for a prompt the policy model is to answer" in messages[0]
    assert messages[1].startswith("is missing (give []")
    assert not Item.objects.exists()


# --- re-import ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "rows"),
    [("native", NATIVE_ROWS), ("trl", TRL_ROWS)],
)
def test_importing_the_same_file_again_creates_nothing(
    project: Project, tmp_path: Path, format: str, rows: list[dict[str, Any]]
) -> None:
    path = jsonl_write(tmp_path / "rows.jsonl", rows)
    first = items_import(project=project, source=path, format=format)
    counts = (Item.objects.count(), Response.objects.count(), Judgement.objects.count())

    again = items_import(project=project, source=path, format=format)

    assert (again.items_created, again.items_existing) == (0, first.items_created)
    assert (again.responses_created, again.judgements_created) == (0, 0)
    assert (Item.objects.count(), Response.objects.count(), Judgement.objects.count()) == counts


def test_reimport_of_real_oasst_file_creates_nothing(project: Project, shared_data: Path) -> None:
    path = shared_data / "oasst_en_100_tree.jsonl"
    items_import(project=project, source=path, format="oasst")
    again = items_import(project=project, source=path, format="oasst")
    assert (again.items_created, again.items_existing) == (0, 212)
    assert Judgement.objects.count() == 212


def test_same_file_in_two_projects_gives_two_sets_of_items(
    project: Project, tmp_path: Path
) -> None:
    other = project_create(name="Other", slug="other")
    path = jsonl_write(tmp_path / "rows.jsonl", NATIVE_ROWS)
    items_import(project=project, source=path, format="native")
    result = items_import(project=other, source=path, format="native")
    assert result.items_created == 2
    assert Item.objects.count() == 4


def test_imported_judgements_are_by_an_inactive_user_without_password(
    project: Project, tmp_path: Path
) -> None:
    items_import(
        project=project,
        source=jsonl_write(tmp_path / "rows.jsonl", NATIVE_ROWS),
        format="native",
        source_name="team-a",
    )
    judgement = Judgement.objects.get()
    assert judgement.source == "imported"
    assert judgement.is_current and judgement.version == 1
    user = judgement.annotator
    assert user.username == "import:team-a"
    assert not user.is_active
    assert not user.has_usable_password()
