"""Gold in the pages: the admin's item page marks an item gold through its small form (the
same service as the API), and the project settings page sets the gold rules."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from feedback.models import Item, Membership, Project
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def _staff_client() -> Client:
    client = Client()
    client.force_login(user_make("root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_item_page_marks_an_item_gold_and_back() -> None:
    project = project_make(slug="g")
    (item,) = items_make(project=project, count=1, responses=3)
    ids = response_ids(item)
    client = _staff_client()
    page = client.get(reverse("admin:feedback_item_change", args=[item.pk]))
    url = reverse("admin:feedback_item_gold", args=[item.pk])
    assert page.status_code == 200 and url in page.content.decode()

    marked = client.post(url, {"ranking": f"[[{ids[1]}], [{ids[0]}, {ids[2]}]]"}, follow=True)
    item.refresh_from_db()
    assert marked.status_code == 200 and item.is_gold
    assert item.gold_ranking == [[ids[1]], [ids[0], ids[2]]]
    assert Project.objects.get(pk=project.pk).gold_items == 1

    refused = client.post(url, {"ranking": f"[[{ids[1]}]]"}, follow=True)
    item.refresh_from_db()
    assert "are not ranked" in refused.content.decode()
    assert item.gold_ranking == [[ids[1]], [ids[0], ids[2]]]  # unchanged
    not_json = client.post(url, {"ranking": "first one"}, follow=True)
    assert "not JSON" in not_json.content.decode()

    client.post(url, {"clear": "on"})
    item.refresh_from_db()
    assert not item.is_gold and Project.objects.get(pk=project.pk).gold_items == 0


def test_the_admin_gold_form_is_for_staff_only() -> None:
    project = project_make(slug="g")
    (item,) = items_make(project=project, count=1, responses=2)
    client = Client()
    client.force_login(user_make("boss", project=project, role=Membership.Role.ADMIN))
    answer = client.post(
        reverse("admin:feedback_item_gold", args=[item.pk]), {"ranking": "[[1], [2]]"}
    )
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
    assert not Item.objects.get(pk=item.pk).is_gold


def _settings_post(project: Project, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": project.name,
        "description": "",
        "guidelines": "",
        "mode": project.mode,
        "overlap": project.overlap,
        "lease_minutes": project.lease_minutes,
        "order": project.order,
        "rating_scale": project.rating_scale,
        "rationale": project.rationale,
        "responses_per_item": project.responses_per_item,
        "round_compare": project.round_compare,
    }
    data.update(changes)
    return data


def test_the_settings_page_sets_the_gold_rules() -> None:
    project = project_make(slug="g")
    client = Client()
    client.force_login(user_make("boss", project=project, role=Membership.Role.ADMIN))
    url = reverse("project-settings", args=[project.slug])
    assert "Gold items" in client.get(url).content.decode()

    saved = client.post(
        url, _settings_post(project, gold_rate="0.2", gold_threshold="0.7", gold_stop="on")
    )
    project.refresh_from_db()
    assert saved.status_code == 302
    assert (project.gold_rate, project.gold_threshold, project.gold_stop) == (0.2, 0.7, True)

    bad = client.post(url, _settings_post(project, gold_rate="1.5"))
    project.refresh_from_db()
    assert bad.status_code == 200 and project.gold_rate == 0.2
    # Posted without the gold fields: the rate stays; the box unticked turns stopping off.
    client.post(url, _settings_post(project))
    project.refresh_from_db()
    assert project.gold_rate == 0.2 and not project.gold_stop
