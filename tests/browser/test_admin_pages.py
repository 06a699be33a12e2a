"""A project admin's day in a real browser: the navigation, create a project (an error
fixed without retyping), members, settings with the service's rules, an import with a bad
row (listed, nothing written) and a good one (counts), an export with a filter, its
preview, download and a snapshot."""

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from feedback.models import ImportJob, Item, Judgement, Membership, Project
from feedback.services.judgements import judgement_submit
from tests.browser.conftest import log_in
from tests.factories import items_make, project_make, response_ids, user_make
from tests.training.conftest import (  # noqa: F401  (fixtures: a real worker for imports)
    celery_env,
    start_worker,
    tiny_model,
    training_env,
)
from training.models import DatasetSnapshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _rows(count: int, *, bad_row: int | None = None) -> bytes:
    rows = []
    for n in range(count):
        responses = [f"Answer one to {n}.", f"Answer two to {n}."]
        if n + 1 == bad_row:
            responses = responses[:1]
        rows.append(
            {
                "external_id": f"q{n}",
                "prompt": f"Question {n}?",
                "responses": responses,
                "ranking": [[1], [0]],
            }
        )
    return b"\n".join(json.dumps(row).encode() for row in rows) + b"\n"


def _assert_only_refusals(page: Any) -> None:
    """Nothing went wrong on the page but the 400 answers the test asked for (the browser
    logs each as a console error)."""
    assert page.watch.dialogs == []
    assert all("status of 400" in error for error in page.watch.errors), page.watch.errors


def test_admin_creates_a_project_and_adds_an_annotator(live_server: Any, page: Any) -> None:
    user_make("root", is_staff=True)
    user_make("ann", email="ann@example.org")
    base = live_server.url
    log_in(page, base, "root")
    # One bar on every page: Manage leads to the projects an admin runs.
    nav = page.locator(".topnav")
    for label in ["Projects", "Manage", "Jobs", "New job", "Models", "API docs", "Token"]:
        assert nav.get_by_role("link", name=label, exact=True).count() == 1, label
    nav.get_by_role("link", name="Manage").click()
    page.get_by_role("link", name="New project").click()
    page.fill("#id_name", "Support answers")
    page.fill("#id_slug", "support")
    page.fill("#id_guidelines", "Prefer **kind** answers.")
    page.wait_for_function(
        "() => document.querySelector('#guidelines-preview strong')?.textContent === 'kind'"
    )
    page.fill("#id_overlap", "0")
    page.click("#project-form button[type=submit]")
    # Every error at once, in words, and what was typed is still there.
    page.locator("#form-errors").get_by_text("greater than or equal to 1").wait_for()
    assert page.input_value("#id_name") == "Support answers"
    assert page.input_value("#id_guidelines") == "Prefer **kind** answers."
    assert not Project.objects.exists()
    page.fill("#id_overlap", "2")
    page.check("#id_ask_ratings")
    page.click("#project-form button[type=submit]")
    page.wait_for_url(f"{base}/p/support/members/")
    project = Project.objects.get(slug="support")
    assert (project.name, project.overlap, project.ask_ratings) == ("Support answers", 2, True)

    # Add by e-mail; a name that is no account you may add is said so (without telling why).
    page.fill("#member-user", "nobody")
    page.click("#member-add button[type=submit]")
    page.get_by_text("no account you can add has this name").wait_for()
    assert page.input_value("#member-user") == "nobody"
    page.fill("#member-user", "ann@example.org")
    page.click("#member-add button[type=submit]")
    page.get_by_text("ann joined as annotator").wait_for()
    row = page.locator("#members tr[data-username='ann']")
    row.locator("select").select_option("exporter")
    row.get_by_role("button", name="Change role").click()
    page.get_by_text("ann is now exporter").wait_for()
    assert Membership.objects.get(user__username="ann").role == "exporter"
    page.locator("#members tr[data-username='ann']").get_by_role("button", name="Remove").click()
    page.get_by_text("Removed ann").wait_for()
    assert not Membership.objects.filter(user__username="ann").exists()
    # The project bar links every page of the project.
    bar = page.locator(".projectbar")
    for label in ["Annotate", "Dashboard", "Settings", "Members", "Import", "Export"]:
        assert bar.get_by_role("link", name=label, exact=True).count() == 1, label
    assert page.watch.errors == [] and page.watch.dialogs == []


def test_settings_lock_the_mode_once_judgements_exist_and_say_why(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="locked", overlap=1)
    (item,) = items_make(project=project, count=1, responses=2)
    ann = user_make("ann", project=project)
    user_make("boss", project=project, role=Membership.Role.ADMIN)
    judgement_submit(user=ann, item=item, ranking=[[pk] for pk in response_ids(item)])
    log_in(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/p/locked/settings/")
    assert page.locator("#id_mode").is_disabled()
    assert "the project has judgements" in page.locator("main").inner_text()
    page.fill("#id_name", "Locked, renamed")
    page.fill("#id_lease_minutes", "45")
    page.click("#project-form button[type=submit]")
    page.get_by_text("Settings saved.").wait_for()
    project.refresh_from_db()
    assert (project.name, project.lease_minutes, project.mode) == ("Locked, renamed", 45, "rank")
    # An annotator may not open the admin pages.
    page.context.clear_cookies()
    log_in(page, live_server.url, "ann")
    answer = page.goto(f"{live_server.url}/p/locked/settings/")
    assert answer is not None and answer.status == 403
    assert page.locator(".topnav").get_by_role("link", name="Manage").count() == 0


def test_import_lists_a_bad_row_writes_nothing_then_imports_a_good_file(
    live_server: Any,
    page: Any,
    tmp_path: Path,
    start_worker: Any,  # noqa: F811
) -> None:
    start_worker()  # background imports run on the default queue
    project = project_make(slug="imp", overlap=1)
    user_make("boss", project=project, role=Membership.Role.ADMIN)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_rows(5, bad_row=3))
    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(gzip.compress(_rows(40)))
    log_in(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/p/imp/")
    page.locator(".projectbar").get_by_role("link", name="Import").click()
    page.set_input_files("#import-file", str(bad))
    page.click("#import-submit")
    result = page.locator("#import-result")
    # the import runs on the worker; a loaded machine (the whole suite on 2 cores) can take
    # over a minute to get to it, hence the generous waits
    result.get_by_text("Nothing was written.").wait_for(timeout=180_000)
    assert "row 3, field 'responses'" in result.inner_text()
    assert not Item.objects.filter(project=project).exists()

    page.set_input_files("#import-file", str(good))
    page.click("#import-submit")
    result.get_by_text("40 items created").wait_for(timeout=180_000)
    assert "40 judgements" in result.inner_text()
    assert page.locator("#item-count").inner_text() == "40"
    assert Item.objects.filter(project=project).count() == 40
    assert Judgement.objects.filter(item__project=project).count() == 40
    jobs = list(ImportJob.objects.filter(project=project).order_by("pk"))
    assert [job.status for job in jobs] == ["failed", "succeeded"]  # both in the background
    _assert_only_refusals(page)


def test_export_dialog_previews_downloads_with_a_filter_and_makes_a_snapshot(
    live_server: Any, page: Any, settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    project = project_make(slug="exp", overlap=2)
    items = items_make(project=project, count=6, responses=2)
    ann = user_make("ann", project=project)
    bob = user_make("bob", project=project)
    user_make("boss", project=project, role=Membership.Role.ADMIN)
    for item in items:
        judgement_submit(user=ann, item=item, ranking=[[pk] for pk in response_ids(item)])
    for item in items[:2]:
        judgement_submit(user=bob, item=item, ranking=[[pk] for pk in response_ids(item)])
    log_in(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/p/exp/export/")
    page.locator("#snapshot-table").get_by_text("No snapshots yet").wait_for()
    page.click("#export-open")
    page.fill("#ex-annotator", "bob")
    page.click("#export-preview-button")
    page.wait_for_function(
        "() => document.querySelector('#export-preview').textContent.includes('chosen')"
    )
    assert "first 2 rows" in page.locator("#preview-count").inner_text()
    with page.expect_download() as download_info:
        page.click("#export-download")
    lines = Path(download_info.value.path()).read_text().splitlines()
    assert len(lines) == 2  # bob judged two items
    assert all({"prompt", "chosen", "rejected"} <= set(json.loads(line)) for line in lines)
    # A bad value is named, in words.
    page.fill("#ex-min_agreement", "7")
    page.click("#export-preview-button")
    page.locator("#export-errors").get_by_text("min agreement: must be a number").wait_for()
    page.fill("#ex-min_agreement", "")
    page.click("#export-snapshot")
    page.locator("#snapshot-table tr[data-snapshot]").first.wait_for()
    snapshot = DatasetSnapshot.objects.get(project=project)
    assert snapshot.row_count == 2 and snapshot.params["annotator"] == "bob"
    row = page.locator(f"#snapshot-table tr[data-snapshot='{snapshot.pk}']")
    assert snapshot.sha256[:16] in row.inner_text() and "2" in row.inner_text()
    page.click("#export-close")
    with page.expect_download() as snap_info:
        row.get_by_role("link", name="Download").click()
    assert len(Path(snap_info.value.path()).read_text().splitlines()) == 2
    _assert_only_refusals(page)
