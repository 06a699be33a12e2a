"""Two projects with members of each role, API clients that authenticate by token, and
judged items: the world every API test starts from."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.tokens import token_issue
from feedback.models import Item, Judgement, Membership, Project
from tests.factories import items_make, project_make, response_ids, user_make


@dataclass
class World:
    a: Project
    b: Project
    admin_a: User
    exporter_a: User
    annotator_a: User
    annotator_b: User
    items_a: list[Item]
    items_b: list[Item]
    judgement_a: Judgement  # by annotator_a
    judgement_b: Judgement  # by annotator_b


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)}")
    return client


@pytest.fixture
def world(db: Any) -> World:
    a = project_make(slug="alpha", overlap=2)
    b = project_make(slug="beta")
    admin_a = user_make("admin-a", project=a, role=Membership.Role.ADMIN)
    exporter_a = user_make("exporter-a", project=a, role=Membership.Role.EXPORTER)
    annotator_a = user_make("annotator-a", project=a)
    annotator_b = user_make("annotator-b", project=b)
    items_a = items_make(project=a, count=3, responses=3)
    items_b = items_make(project=b, count=2, responses=2)

    def judged(item: Item, user: User) -> Judgement:
        ids = response_ids(item)
        Item.objects.filter(pk=item.pk).update(judgement_count=1)
        return Judgement.objects.create(
            item=item, annotator=user, ranking=[[ids[-1]], ids[:-1]], shown_order=ids
        )

    return World(
        a=a,
        b=b,
        admin_a=admin_a,
        exporter_a=exporter_a,
        annotator_a=annotator_a,
        annotator_b=annotator_b,
        items_a=items_a,
        items_b=items_b,
        judgement_a=judged(items_a[0], annotator_a),
        judgement_b=judged(items_b[0], annotator_b),
    )
