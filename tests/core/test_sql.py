"""core.sql: hand-written statements give the same model instances as the ORM."""

import pytest
from django.db import connection

from core import sql
from feedback.models import Item, Judgement
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def test_fetch_builds_the_same_instances_as_the_orm() -> None:
    project = project_make()
    items = items_make(project=project, count=3)
    Item.objects.filter(pk=items[1].pk).update(metadata={"source": "x", "n": [1, 2]})
    statement = f"SELECT {sql.columns(Item, 'i')} FROM {sql.table(Item)} i ORDER BY i.id"
    fetched = sql.fetch(Item, statement, [])
    expected = list(Item.objects.order_by("id"))
    assert [f.pk for f in fetched] == [e.pk for e in expected]
    for got, want in zip(fetched, expected, strict=True):
        for field in Item._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
        assert not got._state.adding and got._state.db == connection.alias
    assert fetched[1].metadata == {"source": "x", "n": [1, 2]}
    assert sql.fetch(Item, statement + " LIMIT 0", []) == []


def test_insert_fills_defaults_and_timestamps_as_save_does() -> None:
    project = project_make()
    (item,) = items_make(project=project, count=1, responses=2)
    ann = user_make("ann", project=project)
    ranking = [[pk] for pk in response_ids(item)]
    judgement = sql.insert(Judgement(item=item, annotator=ann, ranking=ranking))
    stored = Judgement.objects.get(pk=judgement.pk)
    assert stored.ranking == ranking and stored.is_current and stored.version == 1
    assert stored.created_at is not None and stored.created_at == judgement.created_at
    assert not judgement._state.adding
