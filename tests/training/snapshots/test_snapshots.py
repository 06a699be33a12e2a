import hashlib
import stat
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User

from core.errors import Conflict, ValidationError
from feedback.models import Project
from tests.feedback.export.conftest import JudgeFn, MakeItem
from training.models import DatasetSnapshot
from training.services import snapshot_create, snapshot_file
from training.services.snapshots import snapshot_parquet_file

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def snapshot_dir(settings: Any, tmp_path: Path) -> Path:
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    return Path(settings.SNAPSHOT_DIR)


@pytest.fixture
def judged(project: Project, annotators: list[User], make_item: MakeItem, judge: JudgeFn) -> None:
    for n in range(5):
        item, (a, b, c) = make_item(f"q{n}", f"Question {n}?", [f"good {n}", f"ok {n}", "bad"])
        judge(item, annotators[0], [[a], [b], [c]])


def test_snapshot_records_rows_size_and_hash_of_an_immutable_file(
    project: Project, annotators: list[User], judged: None
) -> None:
    snapshot = snapshot_create(
        project=project, params={"format": "trl", "margin": "rank-distance"}, user=annotators[0]
    )

    path = snapshot_file(snapshot)
    body = path.read_bytes()
    assert snapshot.status == DatasetSnapshot.Status.READY
    assert snapshot.row_count == 15 == len(body.splitlines())
    assert snapshot.byte_size == len(body)
    assert snapshot.sha256 == hashlib.sha256(body).hexdigest()
    assert snapshot.params["format"] == "trl" and snapshot.params["margin"] == "rank-distance"
    assert snapshot.created_by == annotators[0]
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert orjson.loads(body.splitlines()[0])["margin"] == 1.0


def test_parquet_copy_holds_the_same_rows(project: Project, judged: None) -> None:
    snapshot = snapshot_create(project=project, params={"format": "trl-conversational"})

    parquet = snapshot_parquet_file(snapshot)
    assert parquet is not None
    table = pq.read_table(parquet)
    lines = [orjson.loads(line) for line in snapshot_file(snapshot).read_bytes().splitlines()]
    assert table.to_pylist() == lines


def test_rankings_snapshot_has_no_parquet_copy(project: Project, judged: None) -> None:
    snapshot = snapshot_create(project=project, params={"format": "rankings"})
    assert snapshot.row_count == 5
    assert snapshot_parquet_file(snapshot) is None


def test_failure_half_way_leaves_no_file_and_no_row(
    project: Project,
    annotators: list[User],
    make_item: MakeItem,
    judge: JudgeFn,
    judged: None,
    snapshot_dir: Path,
) -> None:
    # A message whose content is not text cannot go into the Parquet copy: the write fails
    # after the JSON Lines of the earlier items are already on disk.
    item, (a, b) = make_item("zz-broken", [{"role": "user", "content": 5}], ["x", "y"])  # type: ignore[dict-item]
    judge(item, annotators[0], [[a], [b]])

    with pytest.raises(TypeError):  # pyarrow.ArrowTypeError
        snapshot_create(project=project, params={"format": "trl-conversational"})

    assert not DatasetSnapshot.objects.exists()
    assert [p for p in snapshot_dir.rglob("*") if p.is_file()] == []


def test_empty_selection_is_a_conflict_and_writes_nothing(
    project: Project, judged: None, snapshot_dir: Path
) -> None:
    with pytest.raises(Conflict):
        snapshot_create(project=project, params={"since": "2999-01-01"})
    assert not DatasetSnapshot.objects.exists()
    assert [p for p in snapshot_dir.rglob("*") if p.is_file()] == []


def test_bad_parameters_are_refused_before_anything_is_written(project: Project) -> None:
    with pytest.raises(ValidationError) as caught:
        snapshot_create(project=project, params={"format": "csv"})
    assert "format" in caught.value.details
    assert not DatasetSnapshot.objects.exists()
