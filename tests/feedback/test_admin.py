"""The Django admin writes through the services and leaves alone what they guard."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from feedback.models import Item, Judgement, Membership, Project
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def _staff() -> Client:
    client = Client()
    client.force_login(user_make("root", is_staff=True, is_superuser=True))
    return client


def _judged_project() -> tuple[Project, Item, Judgement]:
    project = project_make(overlap=2)
    item = items_make(project=project, count=1, responses=2)[0]
    annotator = user_make("ann", project=project)
    judgement = judgement_submit(
        user=annotator, item=item, ranking=[[pk] for pk in response_ids(item)]
    )
    return project, item, judgement


def _project_form(project: Project, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    for field in Project._meta.concrete_fields:
        if not field.editable or field.name == "id":
            continue
        value = getattr(project, field.name)
        if isinstance(value, bool):
            if value:
                data[field.name] = "on"
        elif isinstance(value, dict | list):
            data[field.name] = json.dumps(value)
        elif value is not None:
            data[field.name] = value
    data.update(changes)
    return data


def test_a_judged_project_shows_its_mode_read_only_and_an_edit_cannot_change_it() -> None:
    project, _, _ = _judged_project()
    client = _staff()
    url = f"/admin/feedback/project/{project.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="mode"' not in page and 'name="slug"' not in page
    other = "pairwise" if project.mode != "pairwise" else "ranking"
    done = client.post(url, _project_form(project, mode=other, overlap=3))
    assert done.status_code == 302, done.content.decode()[:2000]
    project.refresh_from_db()
    assert project.overlap == 3 and project.mode != other


def test_an_unjudged_project_changes_its_mode_through_the_admin() -> None:
    project = project_make(overlap=2)
    other = "pairwise" if project.mode != "pairwise" else "ranking"
    client = _staff()
    url = f"/admin/feedback/project/{project.pk}/change/"
    assert 'name="mode"' in client.get(url).content.decode()
    done = client.post(url, _project_form(project, mode=other))
    assert done.status_code == 302, done.content.decode()[:2000]
    project.refresh_from_db()
    assert project.mode == other


def test_a_new_project_from_the_admin_is_made_by_project_create() -> None:
    client = _staff()
    template = Project(name="From admin", slug="from-admin")
    done = client.post("/admin/feedback/project/add/", _project_form(template, overlap=2))
    assert done.status_code == 302, done.content.decode()[:2000]
    made = Project.objects.get(slug="from-admin")
    assert made.overlap == 2
    # A project with that slug already: the form says so, nothing is saved twice.
    again = client.post("/admin/feedback/project/add/", _project_form(template))
    assert again.status_code == 200 and Project.objects.filter(slug="from-admin").count() == 1


def test_judgements_and_leases_are_read_only_in_the_admin() -> None:
    _, item, judgement = _judged_project()
    client = _staff()
    assert client.get(f"/admin/feedback/judgement/{judgement.pk}/change/").status_code == 200
    gone = client.post(f"/admin/feedback/judgement/{judgement.pk}/delete/", {"post": "yes"})
    assert gone.status_code == 403
    bulk = client.post(
        "/admin/feedback/judgement/",
        {"action": "delete_selected", "_selected_action": [judgement.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert Judgement.objects.filter(pk=judgement.pk).exists()
    item.refresh_from_db()
    assert item.judgement_count == 1
    assert client.get("/admin/feedback/assignment/add/").status_code == 403


def test_a_judged_item_keeps_its_prompt_responses_and_existence() -> None:
    _, item, _ = _judged_project()
    client = _staff()
    page = client.get(f"/admin/feedback/item/{item.pk}/change/").content.decode()
    assert 'name="messages"' not in page and 'name="metadata"' in page
    assert 'name="responses-0-content"' not in page
    assert (
        client.post(f"/admin/feedback/item/{item.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Item.objects.filter(pk=item.pk).exists()
    fresh = items_make(project=item.project, count=1, responses=2)[0]
    page = client.get(f"/admin/feedback/item/{fresh.pk}/change/").content.decode()
    assert 'name="messages"' in page and 'name="responses-0-content"' in page
    assert (
        client.post(f"/admin/feedback/item/{fresh.pk}/delete/", {"post": "yes"}).status_code == 302
    )
    assert not Item.objects.filter(pk=fresh.pk).exists()


def test_a_membership_from_the_admin_is_set_by_membership_set() -> None:
    project = project_make()
    newcomer: User = user_make("newcomer")
    client = _staff()
    done = client.post(
        "/admin/feedback/membership/add/",
        {"user": newcomer.pk, "project": project.pk, "role": Membership.Role.ANNOTATOR},
    )
    assert done.status_code == 302, done.content.decode()[:2000]
    membership = Membership.objects.get(project=project, user=newcomer)
    url = f"/admin/feedback/membership/{membership.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="user"' not in page and 'name="role"' in page
    assert client.post(url, {"role": Membership.Role.ADMIN}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Membership.Role.ADMIN
