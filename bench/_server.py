"""The processes ``bench/annotate.py`` runs and measures: gunicorn, a Redis of its own, and
the CPU time and load they use."""

import argparse
import http.client
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from bench._db import PG

ROOT = Path(__file__).resolve().parent.parent


def start_gunicorn(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application",
        "--bind", f"127.0.0.1:{args.port}",
        "--workers", str(args.workers),
        "--worker-class", args.worker_class, "--threads", str(args.threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
            conn.request("GET", "/login/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not come up")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def server_pids(server: subprocess.Popen[bytes], db: str) -> tuple[list[int], list[int]]:
    """gunicorn's master and workers; the Postgres backends serving this database."""

    found = [server.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == server.pid:
                    found.append(int(entry.name))
            except OSError:
                pass
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [db]).fetchall()
    return sorted(set(found)), [row[0] for row in rows]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def own_redis_start(port: int) -> subprocess.Popen[bytes]:
    """A redis-server of the bench's own, to freeze without touching the shared one."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tempfile.mkdtemp(prefix="bench-redis-")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.connect()
            conn.close()
            return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("redis-server did not come up")
