"""Data migrations run against the real database, from the state before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
def test_judgement_count_is_back_filled_from_current_human_judgements() -> None:
    before = [("feedback", "0001_initial")]
    after = [("feedback", "0002_item_judgement_count")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        user_model = apps.get_model("auth", "User")
        project = apps.get_model("feedback", "Project").objects.create(name="P", slug="p")
        item_model = apps.get_model("feedback", "Item")
        judgement_model = apps.get_model("feedback", "Judgement")
        items = [
            item_model.objects.create(project=project, external_id=f"i{n}", messages=[])
            for n in range(3)
        ]
        users = [user_model.objects.create(username=f"u{n}") for n in range(3)]

        def judge(item: object, user: object, **fields: object) -> None:
            judgement_model.objects.create(item=item, annotator=user, ranking=[[1]], **fields)

        judge(items[0], users[0])
        judge(items[0], users[1])
        judge(items[0], users[2], is_current=False)  # an old version: not counted
        judge(items[1], users[0], source="imported")  # not a human judgement
        judge(items[2], users[1])

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        apps = executor.loader.project_state(after).apps
        counts = dict(
            apps.get_model("feedback", "Item").objects.values_list("external_id", "judgement_count")
        )
        assert counts == {"i0": 2, "i1": 0, "i2": 1}
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
