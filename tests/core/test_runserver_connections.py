"""``manage.py runserver`` on Postgres does not exhaust connections: 32 concurrent API
clients get no 5xx, and once the load stops the database is back to a handful of
connections (runserver's thread per request would otherwise leave one open each)."""

import http.client
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from core.tokens import token_issue
from tests.core.own_redis import free_port
from tests.factories import project_make

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENTS = 32
REQUESTS_EACH = 8

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def backends(database: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        count: int = cursor.fetchone()[0]
        return count


def test_32_clients_against_runserver_get_no_5xx_and_connections_come_back(
    tmp_path: Path,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the connection count is Postgres's")
    db = connection.settings_dict
    user = User.objects.create_user("runserver-client", is_staff=True)
    project_make(slug="rs")
    token = token_issue(user=user)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CONN_MAX_AGE": "60",  # what a .env might say: runserver ignores it
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "runserver.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/login/")
                probe.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((tmp_path / "runserver.log").read_text()) from None
                time.sleep(0.2)
        idle = backends(db["NAME"])

        def client(n: int) -> None:
            for i in range(REQUESTS_EACH):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                path = "/api/projects/" if i % 2 else "/api/projects/rs/items/"
                conn.request("GET", path, headers={"Authorization": f"Token {token}"})
                status = conn.getresponse().status
                conn.close()
                with lock:
                    statuses[status] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(statuses.values()) == CLIENTS * REQUESTS_EACH
        assert statuses == Counter({200: CLIENTS * REQUESTS_EACH}), statuses
        after: Any = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = backends(db["NAME"])
            if after <= idle + 2:
                break
            time.sleep(0.2)
        assert after <= idle + 2, f"{after} connections left open (idle: {idle})"
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
