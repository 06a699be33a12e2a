"""Small builders for test data, written straight through the ORM (these are fixtures,
not the behaviour under test)."""

from typing import Any

from django.contrib.auth.models import User

from feedback.models import Item, Membership, Project, Response


def project_make(*, slug: str = "demo", **settings: Any) -> Project:
    settings.setdefault("name", slug.replace("-", " ").title())
    return Project.objects.create(slug=slug, **settings)


def user_make(
    username: str,
    *,
    project: Project | None = None,
    role: str = Membership.Role.ANNOTATOR,
    password: str = "correct horse battery staple",
    **fields: Any,
) -> User:
    user = User.objects.create_user(username=username, password=password, **fields)
    if project is not None:
        Membership.objects.create(project=project, user=user, role=role)
    return user


def items_make(
    *,
    project: Project,
    count: int,
    responses: int = 4,
    prompt: str = "Question {n}?",
    answer: str = "Answer {r} to question {n}.",
) -> list[Item]:
    """``count`` items of ``project``, oldest first, each with ``responses`` candidates."""
    start = Item.objects.filter(project=project).count()
    items = Item.objects.bulk_create(
        Item(
            project=project,
            external_id=f"item-{start + n}",
            messages=[{"role": "user", "content": prompt.format(n=start + n)}],
        )
        for n in range(count)
    )
    Response.objects.bulk_create(
        Response(
            item=item,
            position=r,
            content=answer.format(r=r, n=item.external_id),
            model_name=f"model-{r}",
        )
        for item in items
        for r in range(responses)
    )
    return items


def response_ids(item: Item) -> list[int]:
    return list(item.responses.order_by("position").values_list("pk", flat=True))
