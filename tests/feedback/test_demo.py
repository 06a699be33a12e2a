"""The demo set, ``load_demo`` and ``run_demo`` (the processes behind ``make demo``)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from pytest_django import Settings

from feedback.management.supervisor import Child, children_run
from feedback.models import Item, Judgement, Membership, Project, Response
from feedback.services.demo import DEMO_ADMIN, DEMO_ANNOTATORS, DEMO_ITEMS

ROOT = Path(__file__).resolve().parents[2]


def test_demo_set_has_thirty_varied_prompts_with_three_or_four_answers() -> None:
    rows = [json.loads(line) for line in DEMO_ITEMS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 30
    assert all(3 <= len(row["responses"]) <= 4 for row in rows)
    assert len({row["metadata"]["category"] for row in rows}) >= 5
    assert any(len(row["messages"]) > 1 for row in rows)  # multi-turn context


@pytest.mark.django_db
def test_load_demo_creates_projects_accounts_and_is_idempotent() -> None:
    out = StringIO()
    call_command("load_demo", stdout=out)
    counts = (Item.objects.count(), Response.objects.count(), Membership.objects.count())
    call_command("load_demo", stdout=StringIO())

    assert (Item.objects.count(), Response.objects.count(), Membership.objects.count()) == counts
    rank = Project.objects.get(slug="demo")
    assert (rank.mode, rank.overlap, rank.ask_ratings) == ("rank", 2, True)
    assert rank.items.count() >= 30
    pairwise = Project.objects.get(slug="demo-pairwise")
    assert pairwise.mode == "pairwise"
    assert all(item.responses.count() == 2 for item in pairwise.items.all())
    assert not Judgement.objects.exists()  # everything is left for the annotators
    for username, password in (DEMO_ADMIN, *DEMO_ANNOTATORS):
        assert User.objects.get(username=username).check_password(password)
        assert password in out.getvalue()
    assert User.objects.get(username="admin").is_superuser
    assert set(Membership.objects.filter(project=rank).values_list("user__username", "role")) == {
        ("admin", "admin"),
        ("alice", "annotator"),
        ("bob", "annotator"),
        ("carol", "annotator"),
    }
    assert "demo only" in out.getvalue()


@pytest.mark.django_db
def test_load_demo_refuses_in_production(settings: Settings) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refusing in production"):
        call_command("load_demo", stdout=StringIO())
    assert not User.objects.filter(username="admin").exists()


def test_when_one_child_dies_the_others_are_stopped() -> None:
    start = time.monotonic()
    outcome = children_run(
        [
            Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]),
            Child(
                "crasher", [sys.executable, "-c", "import sys, time; time.sleep(0.5); sys.exit(3)"]
            ),
        ],
        poll_seconds=0.1,
    )
    assert (outcome.failed, outcome.returncode) == ("crasher", 3)
    assert time.monotonic() - start < 30


def _free_port() -> int:
    for port in range(8260, 8300):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 8260-8299")


@pytest.mark.slow
def test_run_demo_serves_the_admin_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FEEDBACK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    subprocess.run([*manage, "load_demo"], cwd=ROOT, env=env, check=True, timeout=120)
    port = _free_port()
    demo = subprocess.Popen(
        [*manage, "run_demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    try:
        status = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/") as reply:
                    status = reply.status
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert status == 200

        # The worker and beat start beside the web server; ctrl-c once all three are up.
        def started(marker: str) -> bool:
            return any(marker in line for line in lines)

        while time.monotonic() < deadline and not (started("demo@") and started("beat: Starting")):
            time.sleep(0.2)
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    reader.join(timeout=10)
    output = "".join(lines)
    assert demo.returncode == 0, output
    assert "demo@" in output and "beat: Starting" in output  # worker and beat ran
    assert "Demo stopped." in output
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        s.bind(("127.0.0.1", port))  # nothing listens there any more: the web server is gone
