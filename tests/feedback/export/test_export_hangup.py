"""A client that hangs up half way through a long export leaves a clean connection behind."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from feedback.export import ExportStream, export_params_parse
from feedback.models import Item, Judgement, Project, Response


@pytest.mark.django_db(transaction=True)
def test_stopping_a_stream_early_cancels_the_read_and_ends_its_transaction() -> None:
    project = Project.objects.create(name="Long", slug="long")
    user = User.objects.create_user("judge")
    items = Item.objects.bulk_create(
        Item(project=project, external_id=f"i{n}", messages=[{"role": "user", "content": "q"}])
        for n in range(4000)
    )
    responses = Response.objects.bulk_create(
        Response(item=item, position=p, content=f"{p}" + "x" * 1000)
        for item in items
        for p in (0, 1)
    )
    Judgement.objects.bulk_create(
        Judgement(item=item, annotator=user, ranking=[[a.pk], [b.pk]])
        for item, a, b in zip(items, responses[::2], responses[1::2], strict=True)
    )
    stream: Any = iter(
        ExportStream(project=project, params=export_params_parse({}), chunk_bytes=4096)
    )

    next(stream)
    stream.close()

    assert not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM feedback_judgement")
        assert cursor.fetchone() == (4000,)
    assert connection.connection is not None
    assert connection.connection.info.transaction_status.name == "IDLE"
