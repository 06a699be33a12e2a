"""Annotator reliability in the export, on planted data: two careful annotators and one
who ranks at random. The weight column, the min_reliability filter, reliability-weighted
consensus, and snapshots recording them."""

import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User

from core.errors import ValidationError
from feedback.export import export_params_parse, export_rows
from feedback.models import Item, Judgement, Project, Response
from feedback.quality.agreement import annotator_reliabilities
from training.services import snapshot_create, snapshot_file
from training.services.snapshots import snapshot_parquet_file

pytestmark = pytest.mark.django_db

ITEMS = 60


def _rows(project: Project, **query: str) -> list[dict[str, Any]]:
    return list(export_rows(project=project, params=export_params_parse(query)))


def _item(project: Project, n: int, answers: int = 3) -> list[int]:
    item = Item.objects.create(
        project=project, external_id=f"q{n}", messages=[{"role": "user", "content": f"Q{n}?"}]
    )
    return [
        Response.objects.create(item=item, position=p, content=f"answer {p} to {n}").pk
        for p in range(answers)
    ]


def _judge(user: User, ids: list[int], order: list[int]) -> None:
    item_id = Response.objects.get(pk=ids[0]).item_id
    Judgement.objects.create(item_id=item_id, annotator=user, ranking=[[ids[k]] for k in order])


@pytest.fixture
def planted(db: Any) -> tuple[Project, dict[str, User]]:
    project = Project.objects.create(name="Weights", slug="weights")
    users = {name: User.objects.create_user(name) for name in ("careful1", "careful2", "random")}
    rng = random.Random(7)
    for n in range(ITEMS):
        ids = _item(project, n)
        truth = [0, 1, 2]
        rng.shuffle(truth)
        slip = truth[:]
        if rng.random() < 0.1:
            slip[0], slip[1] = slip[1], slip[0]
        _judge(users["careful1"], ids, truth)
        _judge(users["careful2"], ids, slip)
        _judge(users["random"], ids, rng.sample([0, 1, 2], 3))
    return project, users


def test_each_pair_weighs_its_annotators_reliability(
    planted: tuple[Project, dict[str, User]],
) -> None:
    project, users = planted
    reliability = annotator_reliabilities(project=project)
    assert (
        reliability[users["random"].pk]
        < 0.6
        < min(reliability[users["careful1"].pk], reliability[users["careful2"].pk])
    )
    for name, user in users.items():
        out = _rows(project, weight="reliability", annotator=name)
        assert len(out) == 3 * ITEMS
        assert [row["weight"] for row in out] == pytest.approx([reliability[user.pk]] * len(out))
    plain = _rows(project)
    weighted = _rows(project, weight="reliability")
    assert [{k: v for k, v in row.items() if k != "weight"} for row in weighted] == plain
    # The same figure as TRL's margin column (for a stock RewardTrainer).
    margins = _rows(project, margin="reliability", annotator="random")
    assert [row["margin"] for row in margins] == pytest.approx(
        [reliability[users["random"].pk]] * len(margins)
    )


def test_min_reliability_drops_the_unreliable_annotators_pairs(
    planted: tuple[Project, dict[str, User]],
) -> None:
    project, users = planted
    reliability = annotator_reliabilities(project=project)
    cut = (reliability[users["random"].pk] + 0.6) / 2
    kept = _rows(project, format="rankings", min_reliability=str(cut))
    assert {row["annotator"]["username"] for row in kept} == {"careful1", "careful2"}
    assert len(kept) == 2 * ITEMS
    trl = _rows(project, min_reliability=str(cut))
    careful = _rows(project, annotator="careful1") + _rows(project, annotator="careful2")
    assert len(trl) == len(careful) == 6 * ITEMS
    assert _rows(project, min_reliability="1.0") == []


def test_weighted_consensus_follows_the_reliable_annotator(
    planted: tuple[Project, dict[str, User]],
) -> None:
    project, users = planted
    # One careful and the random annotator disagree on a pair: an even duel.
    ids = _item(project, ITEMS, answers=2)
    _judge(users["careful1"], ids, [0, 1])
    _judge(users["random"], ids, [1, 0])
    reliability = annotator_reliabilities(project=project)
    last = Item.objects.get(external_id=f"q{ITEMS}").pk

    def consensus(aggregate: str) -> list[list[int]]:
        rows = _rows(project, format="rankings", aggregate=aggregate)
        return next(row["ranking"] for row in rows if row["item"]["id"] == last)

    assert consensus("consensus") == [ids]  # a drawn duel: a tie
    assert consensus("weighted-consensus") == [[ids[0]], [ids[1]]]
    (pair,) = [
        row
        for row in _rows(project, aggregate="weighted-consensus", weight="reliability")
        if row["prompt"] == f"User: Q{ITEMS}?\n\nAssistant:"
    ]
    assert pair["chosen"] == " answer 0 to 60"
    r1, rr = reliability[users["careful1"].pk], reliability[users["random"].pk]
    assert pair["weight"] == pytest.approx(r1 / (r1 + rr))


def test_weights_are_refused_where_the_format_has_no_column() -> None:
    for fmt in ("kto", "hh-rlhf", "rankings"):
        with pytest.raises(ValidationError) as error:
            export_params_parse({"format": fmt, "weight": "reliability"})
        assert "weight" in error.value.details
    with pytest.raises(ValidationError) as error:
        export_params_parse({"min_reliability": "2"})
    assert "min_reliability" in error.value.details
    params = export_params_parse({"weight": "reliability", "min_reliability": "0.5"})
    assert params.as_dict()["weight"] == "reliability"
    assert export_params_parse(params.as_query()) == params


def test_a_snapshot_records_the_weight_params_and_a_weight_column(
    planted: tuple[Project, dict[str, User]], settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    project, _ = planted
    plain = snapshot_create(project=project, params={"format": "trl"})
    weighted = snapshot_create(
        project=project,
        params={"format": "trl", "weight": "reliability", "min_reliability": "0.6"},
    )
    assert weighted.params["weight"] == "reliability"
    assert weighted.params["min_reliability"] == "0.6"
    assert plain.params["weight"] is None and plain.params["min_reliability"] is None
    assert weighted.sha256 != plain.sha256 and weighted.row_count == 6 * ITEMS
    lines = [orjson.loads(line) for line in snapshot_file(weighted).read_bytes().splitlines()]
    assert all(0 < line["weight"] <= 1 for line in lines)
    parquet = snapshot_parquet_file(weighted)
    assert parquet is not None and pq.read_table(parquet).to_pylist() == lines
