"""The annotator's pages and their JSON endpoints, through the HTTP test client."""

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from feedback.models import Assignment, Item, Judgement, Membership, Project, Response
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db

XSS_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('xss')</script>",
    "[click me](javascript:alert(1))",
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post_json(client: Client, url: str, data: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json")


def test_login_page_logs_an_annotator_in_and_out() -> None:
    user_make("ann")
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content
    done = client.post(
        reverse("login"), {"username": "ann", "password": "correct horse battery staple"}
    )
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post(reverse("logout"))
    assert client.get("/").status_code == 302


def test_login_is_locked_after_repeated_failures() -> None:
    user_make("ann")
    client = Client()
    statuses = [
        client.post(reverse("login"), {"username": "ann", "password": "wrong"}).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429
    # Even the right password is refused while locked out.
    right = client.post(
        reverse("login"), {"username": "ann", "password": "correct horse battery staple"}
    )
    assert right.status_code == 429


def test_home_lists_only_my_projects_with_progress() -> None:
    mine = project_make(slug="mine", name="Mine", overlap=1)
    project_make(slug="theirs", name="Theirs")
    items = items_make(project=mine, count=4)
    ann = user_make("ann", project=mine)
    client = _client(ann)
    _post_json(
        client,
        reverse("judgement-submit", args=["mine", items[0].pk]),
        {"ranking": [[pk] for pk in response_ids(items[0])]},
    )
    page = client.get("/").content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert "1 of 4 items complete" in page
    assert re.search(r"<strong>1</strong> today", page)


def test_item_page_shows_a_blind_shuffled_order_that_stays_put() -> None:
    project = project_make(overlap=1, guidelines="Prefer **honest** answers.")
    (item,) = items_make(project=project, count=1, responses=4)
    ann = user_make("ann", project=project)
    client = _client(ann)
    page = client.get(reverse("annotate", args=[project.slug]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>honest</strong>" in html and "Question 0?" in html
    assert "model-" not in html  # model names are never shown
    order = re.search(r'data-shown-order="([\d,]+)"', html)
    assert order is not None
    again = client.get(reverse("annotate", args=[project.slug])).content.decode()
    assert f'data-shown-order="{order.group(1)}"' in again
    assert sorted(map(int, order.group(1).split(","))) == sorted(response_ids(item))


def test_shuffle_differs_between_annotators() -> None:
    project = project_make(overlap=20)
    items_make(project=project, count=1, responses=6)
    orders = set()
    for n in range(6):
        html = _client(user_make(f"u{n}", project=project)).get(
            reverse("annotate", args=[project.slug])
        )
        found = re.search(r'data-shown-order="([\d,]+)"', html.content.decode())
        assert found is not None
        orders.add(found.group(1))
    assert len(orders) > 1


def test_next_submit_and_skip_go_through_the_json_endpoints() -> None:
    project = project_make(overlap=1)
    first, second, _third = items_make(project=project, count=3, responses=2)
    ann = user_make("ann", project=project)
    client = _client(ann)
    got = client.get(reverse("next-item", args=[project.slug])).json()
    assert got["item"]["id"] == first.pk and 'id="item"' in got["html"]
    shown = got["item"]["shown_order"]
    made = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, first.pk]),
        {"ranking": [[shown[1]], [shown[0]]], "shown_order": shown, "time_spent_ms": 4200},
    )
    assert made.status_code == 201
    judgement = Judgement.objects.get(pk=made.json()["judgement"]["id"])
    assert judgement.ranking == [[shown[1]], [shown[0]]] and judgement.time_spent_ms == 4200
    got = client.get(reverse("next-item", args=[project.slug])).json()
    assert got["item"]["id"] == second.pk
    skipped = _post_json(
        client, reverse("item-skip", args=[project.slug, second.pk]), {"reason": "off topic"}
    )
    assert skipped.status_code == 200
    assert Assignment.objects.get(item=second).skip_reason == "off topic"


def test_bad_submission_answers_400_naming_the_field() -> None:
    project = project_make(overlap=1, rationale=Project.Rationale.REQUIRED)
    (item,) = items_make(project=project, count=1, responses=2)
    client = _client(user_make("ann", project=project))
    url = reverse("judgement-submit", args=[project.slug, item.pk])
    ids = response_ids(item)
    missing = _post_json(client, url, {"ranking": [[ids[0]], [ids[1]]]})
    assert missing.status_code == 400
    assert "rationale" in missing.json()["error"]["details"]
    garbage = client.post(url, data="{not json", content_type="application/json")
    assert garbage.status_code == 400 and "body" in garbage.json()["error"]["details"]
    wrong_type = _post_json(client, url, {"ranking": [[ids[0], ids[1]]], "rationale": 5})
    assert wrong_type.status_code == 400 and "rationale" in wrong_type.json()["error"]["details"]
    assert not Judgement.objects.exists()


def test_late_submit_on_a_completed_item_answers_409() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    ranking = {"ranking": [[pk] for pk in response_ids(item)]}
    url = reverse("judgement-submit", args=[project.slug, item.pk])
    assert _post_json(_client(bob), url, ranking).status_code == 201
    late = _post_json(_client(ann), url, ranking)
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_needed"


def test_reopening_a_judgement_shows_it_and_saving_keeps_the_history() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2)
    ann = user_make("ann", project=project)
    client = _client(ann)
    a, b = response_ids(item)
    url = reverse("judgement-submit", args=[project.slug, item.pk])
    _post_json(client, url, {"ranking": [[a], [b]]})
    listing = client.get(reverse("judgements", args=[project.slug])).content.decode()
    assert reverse("item", args=[project.slug, item.pk]) in listing
    page = client.get(reverse("item", args=[project.slug, item.pk])).content.decode()
    assert "Save changes" in page
    assert _post_json(client, url, {"ranking": [[b], [a]]}).json()["judgement"]["version"] == 2
    page = client.get(reverse("item", args=[project.slug, item.pk])).content.decode()
    assert "Earlier versions" in page and "v1" in page
    assert Judgement.objects.filter(item=item, annotator=ann).count() == 2


def test_responses_with_script_payloads_are_shown_as_text() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=len(XSS_PAYLOADS))
    for response, payload in zip(item.responses.order_by("position"), XSS_PAYLOADS, strict=True):
        response.content = payload
        response.save(update_fields=["content"])
    item.messages = [{"role": "user", "content": "<script>alert('prompt')</script>"}]
    item.save(update_fields=["messages"])
    page = _client(user_make("ann", project=project)).get(reverse("annotate", args=[project.slug]))
    html = page.content.decode()
    body = html.split('id="workspace"', 1)[1]
    assert "<script>alert" not in body and "<img" not in body and "<svg" not in body
    assert 'href="javascript:' not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt;" in body or (
        "&lt;script&gt;alert('prompt')&lt;/script&gt;" in body
    )


def test_pages_send_a_strict_content_security_policy_and_nosniff() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=1)
    page = _client(user_make("ann", project=project)).get(reverse("annotate", args=[project.slug]))
    csp = page["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src is not None and "'self'" in script_src.group(1)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page["X-Content-Type-Options"] == "nosniff"
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script found"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler found"
    assert not re.search(r"\sstyle=", html), "inline style found"


def test_json_endpoints_refuse_a_post_without_the_csrf_token() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_make("ann", project=project))
    url = reverse("judgement-submit", args=[project.slug, item.pk])
    refused = _post_json(client, url, {"ranking": [[pk] for pk in response_ids(item)]})
    assert refused.status_code == 403
    assert not Judgement.objects.exists()


def test_annotator_cannot_open_another_projects_item_or_someone_elses_judgement() -> None:
    mine, other = project_make(slug="mine"), project_make(slug="other")
    (my_item,) = items_make(project=mine, count=1, responses=2)
    (their_item,) = items_make(project=other, count=1, responses=2)
    ann = user_make("ann", project=mine)
    bob = user_make("bob", project=mine)
    user_make("carol", project=other)
    client = _client(ann)
    assert client.get(reverse("annotate", args=["other"])).status_code == 404
    assert client.get(reverse("next-item", args=["other"])).status_code == 404
    foreign = _post_json(
        client,
        reverse("judgement-submit", args=["mine", their_item.pk]),
        {"ranking": [[pk] for pk in response_ids(their_item)]},
    )
    assert foreign.status_code == 404
    # Bob's judgement of an item Ann has not judged is not hers to open.
    _post_json(
        _client(bob),
        reverse("judgement-submit", args=["mine", my_item.pk]),
        {"ranking": [[pk] for pk in response_ids(my_item)]},
    )
    assert client.get(reverse("item", args=["mine", my_item.pk])).status_code == 404
    assert "bob" not in client.get(reverse("judgements", args=["mine"])).content.decode()


def test_dashboard_is_for_project_admins_and_admin_site_for_staff() -> None:
    project = project_make(overlap=2)
    items = items_make(project=project, count=3, responses=2)
    ann = user_make("ann", project=project)
    boss = user_make("boss", project=project, role=Membership.Role.ADMIN)
    _post_json(
        _client(ann),
        reverse("judgement-submit", args=[project.slug, items[0].pk]),
        {"ranking": [[pk] for pk in response_ids(items[0])]},
    )
    _client(boss).get(reverse("next-item", args=[project.slug]))
    url = reverse("dashboard", args=[project.slug])
    assert _client(ann).get(url).status_code == 403
    page = _client(boss).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'Leases live now <span class="muted">(1)</span>' in html
    assert re.search(r"In progress</dt><dd[^>]*>1<", html)
    assert re.search(r"Waiting</dt><dd[^>]*>2<", html)
    assert ">ann<" in html
    admin_page = _client(ann).get("/admin/feedback/judgement/")
    assert admin_page.status_code == 302 and "/admin/login/" in admin_page["Location"]


def test_staff_see_every_admin_list_and_can_add_members_to_a_project() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=2, responses=2)
    staff = user_make("root", is_staff=True, is_superuser=True)
    newcomers = [user_make("new1"), user_make("new2")]
    client = _client(staff)
    for model in ["project", "membership", "item", "response", "judgement", "assignment"]:
        assert client.get(f"/admin/feedback/{model}/").status_code == 200, model
    done = client.post(
        "/admin/feedback/project/",
        {
            "action": "add_members",
            "_selected_action": [project.pk],
            "apply": "1",
            "users": [u.pk for u in newcomers],
            "role": Membership.Role.ANNOTATOR,
        },
    )
    assert done.status_code == 302
    assert set(project.memberships.values_list("user__username", flat=True)) == {"new1", "new2"}


def test_submit_with_next_answers_with_the_next_item_in_one_request() -> None:
    project = project_make(overlap=1)
    first, second = items_make(project=project, count=2, responses=3)
    client = _client(user_make("ann", project=project))
    shown = client.get(reverse("next-item", args=[project.slug])).json()["item"]["shown_order"]
    made = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, first.pk]) + "?next=1",
        {"ranking": [[pk] for pk in shown], "shown_order": shown},
    )
    assert made.status_code == 201
    body = made.json()
    assert Judgement.objects.filter(pk=body["judgement"]["id"], item=first).exists()
    assert body["next"]["item"]["id"] == second.pk
    assert f'data-item-id="{second.pk}"' in body["next"]["html"]
    lease = Assignment.objects.get(item=second)
    assert body["next"]["assignment"]["id"] == lease.pk and lease.status == "active"
    # The last item done: "next" says so, with the page's closing fragment.
    shown = body["next"]["item"]["shown_order"]
    done = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, second.pk]) + "?next=1",
        {"ranking": [[pk] for pk in shown]},
    ).json()
    assert done["next"]["item"] is None and done["next"]["html"]


def _holding_the_first_of_two() -> tuple[Client, Project, Item, Item]:
    """An annotator's client holding the lease on the first of two items."""
    project = project_make(overlap=1)
    first, second = items_make(project=project, count=2, responses=2)
    client = _client(user_make("ann", project=project))
    client.get(reverse("next-item", args=[project.slug]))
    return client, project, first, second


def test_skip_with_next_answers_with_the_next_item() -> None:
    client, project, first, second = _holding_the_first_of_two()
    skipped = _post_json(
        client, reverse("item-skip", args=[project.slug, first.pk]) + "?next=1", {"reason": ""}
    )
    assert skipped.status_code == 200
    assert skipped.json()["next"]["item"]["id"] == second.pk


def test_a_refused_submit_with_next_takes_no_lease() -> None:
    client, project, first, second = _holding_the_first_of_two()
    # The other item's responses: ids that exist but are not this item's, in any test order.
    refused = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, first.pk]) + "?next=1",
        {"ranking": [[pk] for pk in response_ids(second)]},
    )
    assert refused.status_code == 400 and "next" not in refused.json()
    assert list(Assignment.objects.values_list("item_id", "status")) == [(first.pk, "active")]


def test_ids_in_the_item_fragment_are_never_localised() -> None:
    # With a thousands separator on, "12345" must not become "12,345" in data attributes.
    project = project_make(overlap=1)
    item = Item.objects.create(
        id=123456, project=project, external_id="big", messages=[{"role": "user", "content": "?"}]
    )
    for position in range(2):
        Response.objects.create(item=item, position=position, content=f"answer {position}")
    client = _client(user_make("ann", project=project))
    with override_settings(USE_THOUSAND_SEPARATOR=True):
        html = client.get(reverse("next-item", args=[project.slug])).json()["html"]
    assert 'data-item-id="123456"' in html and "/items/123456/judgement/" in html


def test_the_submit_and_next_request_runs_a_fixed_number_of_queries(
    django_assert_max_num_queries: Any,
) -> None:
    # The hot path of the workspace: this many statements however big the project is
    # (session, user, project, item, its responses, the judgement's transaction, the
    # next lease's transaction, the next item's responses).
    project = project_make(overlap=2)
    items = items_make(project=project, count=30, responses=4)
    others = [user_make(f"other{n}", project=project) for n in range(3)]
    for n, other in enumerate(others):
        _post_json(
            _client(other),
            reverse("judgement-submit", args=[project.slug, items[n].pk]),
            {"ranking": [[pk] for pk in response_ids(items[n])]},
        )
    client = _client(user_make("ann", project=project))
    item = client.get(reverse("next-item", args=[project.slug])).json()["item"]
    with django_assert_max_num_queries(20):
        made = _post_json(
            client,
            reverse("judgement-submit", args=[project.slug, item["id"]]) + "?next=1",
            {"ranking": [[pk] for pk in item["shown_order"]]},
        )
    assert made.status_code == 201 and made.json()["next"]["item"] is not None
