"""Benchmark: the export endpoint against Postgres writing the same rows with COPY.

    .venv/bin/python bench/export.py [--sizes 100000 1000000] [--port 8400] [--refill]

Fills its own database (``feedback_bench_export`` unless ``--db`` says otherwise) with one
project per size: pairwise items with a prompt of about 200 characters and two responses of
about 500, one judgement each, so one judgement is one ``trl`` pair. Filling uses COPY and
is skipped when the project is already there. Then, per size:

(a) gunicorn (one sync worker) serves ``GET /api/projects/<slug>/export/?format=trl``; a
    client streams the body and counts lines. The worker's peak RSS (VmHWM) is read from
    /proc; gunicorn is restarted per size so each peak is its own.
(b) ``COPY (SELECT json_build_object('prompt', ..., 'chosen', ..., 'rejected', ...) ...)
    TO STDOUT`` over the same join and order, read by psycopg.

It prints rows/s of both, the ratio and the peak RSS, plus the machine's load average.
"""

import argparse
import http.client
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import create_database, drop_database  # noqa: E402

WORDS = (  # noqa: SIM905
    "the model answer question reason data train reward policy human feedback rank pair "
    "prompt response quick brown fox jumps over lazy dog because therefore however which "
    "great example careful step result value large small first second final explain why "
    "how what where when language learning gradient token sequence preference better worse"
).split()


def text_pool(rng: random.Random, size: int, length: int) -> list[str]:
    pool = []
    for _ in range(size):
        words: list[str] = []
        total = 0
        while total < length:
            word = rng.choice(WORDS)
            words.append(word)
            total += len(word) + 1
        pool.append(" ".join(words)[:length])
    return pool


def copy_columns(model: Any, given: list[str]) -> tuple[str, tuple[object, ...]]:
    """The COPY column list of ``model``: the ``given`` columns, then every other column
    with its model default (so a later migration's new column cannot break the fill)."""
    import orjson
    from django.db.models import JSONField

    columns, values = list(given), []
    for field in model._meta.concrete_fields:
        if field.column in given or field.primary_key:
            continue
        if not field.has_default() and not field.null:
            raise RuntimeError(f"bench fill: give {model.__name__}.{field.name} (no default)")
        value = field.get_default()
        if isinstance(field, JSONField):
            value = orjson.dumps(value).decode()
        columns.append(field.column)
        values.append(value)
    return f"{model._meta.db_table} ({', '.join(columns)})", tuple(values)


def fill(*, db_url: str, slug: str, size: int, refill: bool) -> None:
    import psycopg
    from django.contrib.auth.models import User
    from django.utils import timezone

    from feedback.models import Item, Judgement, Project, Response

    existing = Project.objects.filter(slug=slug).first()
    if existing is not None and not refill:
        print(f"[fill] {slug}: already there, kept")
        return
    if existing is not None:
        existing.delete()
    project = Project.objects.create(name=slug, slug=slug, mode="pairwise")
    annotator, _ = User.objects.get_or_create(username="bench-annotator")
    rng = random.Random(size)
    prompts = text_pool(rng, 5000, 190)
    answers = text_pool(rng, 20000, 490)
    now = timezone.now()
    started = time.perf_counter()
    with psycopg.connect(db_url.replace("postgres://", "postgresql://")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT coalesce(max(id), 0) FROM feedback_item")
        first_item = cur.fetchone()[0] + 1  # type: ignore[index]
        cur.execute("SELECT coalesce(max(id), 0) FROM feedback_response")
        first_response = cur.fetchone()[0] + 1  # type: ignore[index]
        import orjson

        table, rest = copy_columns(
            Item,
            ["id", "project_id", "external_id", "messages", "metadata", "created_at",
             "updated_at", "judgement_count"],
        )  # fmt: skip
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for n in range(size):
                prompt = f"{prompts[n % len(prompts)]} #{n}"
                messages = orjson.dumps([{"role": "user", "content": prompt}]).decode()
                copy.write_row(
                    (first_item + n, project.pk, f"b{n}", messages, "{}", now, now, 1, *rest)
                )
        table, rest = copy_columns(
            Response,
            ["id", "item_id", "position", "content", "source", "model_name", "metadata",
             "created_at", "updated_at"],
        )  # fmt: skip
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for n in range(size):
                for pos in (0, 1):
                    content = f"{answers[(2 * n + pos) % len(answers)]} ({n}.{pos})"
                    copy.write_row(
                        (first_response + 2 * n + pos, first_item + n, pos, content,
                         "imported", "", "{}", now, now, *rest)
                    )  # fmt: skip
        table, rest = copy_columns(
            Judgement,
            ["item_id", "annotator_id", "source", "ranking", "both_bad", "ratings",
             "rationale", "not_rankable", "flag_reason", "shown_order", "version",
             "is_current", "created_at"],
        )  # fmt: skip
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for n in range(size):
                a, b = first_response + 2 * n, first_response + 2 * n + 1
                if rng.random() < 0.5:
                    a, b = b, a
                copy.write_row(
                    (first_item + n, annotator.pk, "human", f"[[{a}], [{b}]]", False, "{}", "",
                     False, "", f"[{a}, {b}]", 1, True, now, *rest)
                )  # fmt: skip
        for table in ("feedback_item", "feedback_response"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE feedback_item, feedback_response, feedback_judgement")
    print(f"[fill] {slug}: {size:,} items/judgements in {time.perf_counter() - started:.1f} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn worker did not start")


def bench_endpoint(*, db_url: str, slug: str, token: str, port: int) -> tuple[int, float, float]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DEBUG": "false",
        "AXES_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--timeout", "600", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        worker = worker_pid(server.pid)
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        # Warm the worker (imports, URL resolution) with a tiny request first.
        conn.request("GET", "/api/schema/", headers={"Authorization": f"Token {token}"})
        conn.getresponse().read()
        started = time.perf_counter()
        conn.request(
            "GET",
            f"/api/projects/{slug}/export/?format=trl",
            headers={"Authorization": f"Token {token}"},
        )
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export answered {response.status}: {response.read()[:500]!r}")
        lines = 0
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
        return lines, elapsed, peak_rss_mb(worker)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


COPY_SQL = """
COPY (
    SELECT json_build_object(
        'prompt', 'User: ' || (i.messages -> 0 ->> 'content') || E'\\n\\nAssistant:',
        'chosen', ' ' || rc.content,
        'rejected', ' ' || rr.content)
    FROM feedback_judgement j
    JOIN feedback_item i ON i.id = j.item_id
    JOIN feedback_response rc ON rc.id = (j.ranking -> 0 ->> 0)::bigint
    JOIN feedback_response rr ON rr.id = (j.ranking -> 1 ->> 0)::bigint
    WHERE i.project_id = {project} AND j.is_current
    ORDER BY j.item_id, j.id
) TO STDOUT
"""


def bench_copy(*, db_url: str, project_id: int, ordered: bool = True) -> tuple[int, float]:
    import psycopg

    sql = COPY_SQL.format(project=int(project_id))
    if not ordered:
        sql = sql.replace("ORDER BY j.item_id, j.id", "")
    with psycopg.connect(db_url.replace("postgres://", "postgresql://")) as conn:
        started = time.perf_counter()
        lines = 0
        with conn.cursor().copy(sql) as copy:
            for data in copy:
                lines += bytes(data).count(b"\n")
        return lines, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--db", default="feedback_bench_export")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--fill-only", action="store_true", help="fill the database and stop")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    try:
        run(args)
    finally:
        if args.drop:
            from django.db import connections

            connections.close_all()
            drop_database(args.db)


def run(args: argparse.Namespace) -> None:

    db_url = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db,)).fetchone():
            create_database(args.db)
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from feedback.models import Project

    user, _ = User.objects.get_or_create(username="bench-exporter", defaults={"is_staff": True})
    token, _ = Token.objects.get_or_create(user=user)
    for size in args.sizes:
        fill(db_url=db_url, slug=f"bench-{size}", size=size, refill=args.refill)
    if args.fill_only:
        return

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} before the runs")
    results = []
    for size in args.sizes:
        slug = f"bench-{size}"
        project = Project.objects.get(slug=slug)
        copy_rows, copy_s = bench_copy(db_url=db_url, project_id=project.pk)
        unordered_rows, unordered_s = bench_copy(
            db_url=db_url, project_id=project.pk, ordered=False
        )
        api_rows, api_s, rss = bench_endpoint(
            db_url=db_url, slug=slug, token=token.key, port=args.port
        )
        if api_rows != copy_rows:
            print(f"WARNING: endpoint gave {api_rows} rows, COPY {copy_rows}")
        copy_rate, api_rate = copy_rows / copy_s, api_rows / api_s
        results.append((size, api_rate, copy_rate, rss))
        print(
            f"{size:>9,} rows | endpoint {api_rows:,} rows in {api_s:.2f} s"
            f" = {api_rate:,.0f} rows/s"
            f" | COPY {copy_rows:,} rows in {copy_s:.2f} s = {copy_rate:,.0f} rows/s"
            f" | ratio {api_rate / copy_rate:.2f}x | worker peak RSS {rss:.0f} MB"
        )
        unordered_rate = unordered_rows / unordered_s
        print(
            f"{'':>9}      | COPY without ORDER BY (a stricter reference): {unordered_rate:,.0f}"
            f" rows/s, ratio {api_rate / unordered_rate:.2f}x"
        )
    print(f"load average after the runs: {os.getloadavg()}")
    for size, api_rate, copy_rate, rss in results:
        verdict = "meets" if api_rate >= 0.5 * copy_rate and rss < 300 else "MISSES"
        print(
            f"target (>= 0.5x COPY, RSS < 300 MB) at {size:,}: {verdict}"
            f" ({api_rate / copy_rate:.2f}x, {rss:.0f} MB)"
        )


if __name__ == "__main__":
    main()
