"""Builders of feedback data for export tests: real rows in the test database."""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pytest
from django.contrib.auth.models import User

from feedback.models import Item, Judgement, Project, Response


class MakeItem(Protocol):
    def __call__(
        self,
        external_id: str,
        prompt: str | list[dict[str, str]],
        answers: Sequence[str],
    ) -> tuple[Item, list[Response]]: ...


@pytest.fixture
def project(db: Any) -> Project:
    return Project.objects.create(name="Export", slug="export", ask_ratings=True)


@pytest.fixture
def annotators(db: Any) -> list[User]:
    return [User.objects.create_user(f"annotator{i}") for i in range(3)]


@pytest.fixture
def make_item(project: Project) -> MakeItem:
    def make(
        external_id: str, prompt: str | list[dict[str, str]], answers: Sequence[str]
    ) -> tuple[Item, list[Response]]:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        item = Item.objects.create(project=project, external_id=external_id, messages=messages)
        responses = [
            Response.objects.create(item=item, position=i, content=text)
            for i, text in enumerate(answers)
        ]
        return item, responses

    return make


JudgeFn = Callable[..., Judgement]


@pytest.fixture
def judge() -> JudgeFn:
    def make(
        item: Item,
        user: User,
        ranking: list[list[Response]],
        *,
        ratings: dict[Response, int] | None = None,
        **fields: Any,
    ) -> Judgement:
        return Judgement.objects.create(
            item=item,
            annotator=user,
            ranking=[[r.pk for r in group] for group in ranking],
            ratings={str(r.pk): v for r, v in (ratings or {}).items()},
            **fields,
        )

    return make
