"""Annotation throughput: many annotators at once, over HTTP, against gunicorn on Postgres.

It creates its own database (``--db``, default ``feedback_bench_ws``), migrates it, loads a
project of 10,000 items with 4 responses each (bulk), starts gunicorn with production
settings (sessions and rendered Markdown in Redis, as docker-compose runs it; prompts and
responses rendered once after loading, as the import's task does), logs N
annotators in through the login page and has each one loop, for a fixed time, over the
same endpoints the item page uses:

    GET  /p/<slug>/next/                      the first item (lease + rendered HTML)
    POST /p/<slug>/items/<id>/judgement/?next=1
                                              a ranking of its responses; the answer
                                              carries the next item, as on the page
                                              (``--two-requests``: a GET next after each)

It prints completed judgements per second and p50/p95/p99 latency per request type, then
checks the database: no item over-assigned, no judgement lost (every 201 the clients got
is a row), the per-item counter right. Target on a 2-core machine: >= 200 judgements/s
with p99 < 250 ms.

Run:  .venv/bin/python bench/annotate.py [--annotators 32] [--seconds 30] [--port 8300]

``--freeze-redis 15`` measures a hung Redis (issue 15): the run uses a redis-server of its
own (on ``--port`` + 1, never the shared one), stops it with SIGSTOP ``--freeze-at``
seconds into the timed window (connections stay open, nothing answers) and resumes it
15 s later, then prints judgements/s before, during and after the freeze and how many
seconds of throughput the freeze cost.
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._annotator import PASSWORD, SLUG, Annotator, Stats  # noqa: E402
from bench._db import create_database, drop_database  # noqa: E402
from bench._server import (  # noqa: E402
    cpu_seconds,
    load_average,
    own_redis_start,
    server_pids,
    start_gunicorn,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument(
        "--order",
        default="closest",
        choices=["closest", "random", "disagreement", "uncertainty"],
        help="the project's selection policy (uncertainty: margins planted as a scoring job "
        "would store them)",
    )
    parser.add_argument("--port", type=int, default=8300)
    # docker-compose's web service: gunicorn's sync workers, as many as WEB_WORKERS (3).
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument("--db", default="feedback_bench_ws")
    parser.add_argument("--keep-db", action="store_true", help="leave the database behind")
    parser.add_argument(
        "--two-requests",
        action="store_true",
        help="ask for the next item in a request of its own after each submit "
        "(the page gets it in the submit's answer)",
    )
    parser.add_argument(
        "--freeze-redis",
        type=float,
        default=0.0,
        help="seconds to freeze a redis-server of the bench's own during the run (0: none)",
    )
    parser.add_argument("--freeze-at", type=float, default=10.0, help="when, into the run")
    return parser.parse_args()


# --- set-up -------------------------------------------------------------------------------


def load(args: argparse.Namespace) -> None:
    """Migrate and bulk-load the project (in this process, through the ORM)."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections, transaction

    from feedback.models import Item, Membership, Project, Response
    from feedback.services.rendering import project_render

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    rng = random.Random(0)
    with transaction.atomic():
        project = Project.objects.create(
            name="Bench", slug=SLUG, overlap=args.overlap, responses_per_item=4, order=args.order,
            guidelines="Rank the most **helpful**, honest and harmless answer first.",
        )  # fmt: skip
        items = Item.objects.bulk_create(
            (
                Item(
                    project=project,
                    external_id=f"q{n}",
                    messages=[
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": f"Question {n}: how does topic {n % 97} work?"},
                    ],
                    rm_margin=rng.random() if args.order == "uncertainty" else None,
                )
                for n in range(args.items)
            ),
            batch_size=2000,
        )
        answer = (
            "Here is an answer with some **Markdown**:\n\n- point one\n- point two\n\n"
            "```python\nprint('topic {n}, answer {r}')\n```\n\nAnd a closing sentence. "
        )
        Response.objects.bulk_create(
            (
                Response(item=item, position=r, content=answer.format(n=n, r=r) * 2)
                for n, item in enumerate(items)
                for r in range(4)
            ),
            batch_size=5000,
        )
        hashed = make_password(PASSWORD)
        users = User.objects.bulk_create(
            User(username=f"annotator{n:02d}", password=hashed) for n in range(args.annotators)
        )
        Membership.objects.bulk_create(Membership(project=project, user=u) for u in users)
    print(
        f"loaded {args.items} items x 4 responses, {args.annotators} annotators "
        f"in {time.perf_counter() - started:.1f} s"
    )
    # What the import's task on the default queue does after an import commits: render
    # the prompts and responses once, so that the annotators' pages need not.
    started = time.perf_counter()
    items_done, responses_done = project_render(project_id=project.pk)
    print(
        f"rendered {items_done} prompts and {responses_done} responses "
        f"in {time.perf_counter() - started:.1f} s (worker's work)"
    )
    with connections["default"].cursor() as cursor:
        # Fresh statistics and no dead rows from the rendering's updates, as autovacuum
        # would soon leave them (else it runs during the timed window).
        cursor.execute("VACUUM ANALYZE")
    connections.close_all()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- checks afterwards ---------------------------------------------------------------------


def verify(stats: Stats, overlap: int) -> list[str]:
    from django.db import connection

    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT i.id,
                (SELECT count(*) FROM feedback_judgement j
                  WHERE j.item_id = i.id AND j.is_current AND j.source = 'human')
              + (SELECT count(*) FROM feedback_assignment a
                  WHERE a.item_id = i.id AND a.status = 'active' AND a.expires_at > now()) AS taken
              FROM feedback_item i) t
            WHERE taken > %s
            """,
            [overlap],
        )
        (over,) = cursor.fetchone()
        if over:
            problems.append(f"{over} items over-assigned")
        cursor.execute(
            "SELECT count(*) FROM (SELECT item_id, annotator_id FROM feedback_judgement "
            "GROUP BY 1, 2 HAVING count(*) > 1) t"
        )
        (twice,) = cursor.fetchone()
        if twice:
            problems.append(f"{twice} (item, annotator) pairs judged twice")
        cursor.execute("SELECT id FROM feedback_judgement")
        stored = {row[0] for row in cursor.fetchall()}
        lost = set(stats.judgements) - stored
        if lost:
            problems.append(f"{len(lost)} acknowledged judgements missing")
        if len(stored) != len(stats.judgements):
            problems.append(
                f"{len(stored)} judgements stored, {len(stats.judgements)} acknowledged"
            )
        cursor.execute(
            """
            SELECT count(*) FROM feedback_item i WHERE i.judgement_count <>
              (SELECT count(*) FROM feedback_judgement j
                WHERE j.item_id = i.id AND j.is_current AND j.source = 'human')
            """
        )
        (wrong,) = cursor.fetchone()
        if wrong:
            problems.append(f"{wrong} items with a wrong judgement_count")
    return problems


def freeze_report(stats: Stats, started: float, frozen: tuple[float, float], wall: float) -> None:
    """Judgements/s before, during and after the freeze, and the seconds of work lost."""
    start, end = frozen
    times = stats.judged_at
    before = sum(1 for t in times if t < start) / max(start - started, 1e-9)
    during = sum(1 for t in times if start <= t < end) / max(end - start, 1e-9)
    after_end = started + wall
    after = sum(1 for t in times if t >= end) / max(after_end - end, 1e-9)
    steady = (before + after) / 2 if after_end - end > 1 else before
    lost = (end - start) * (1 - during / steady) if steady else float("nan")
    print(
        f"redis frozen {end - start:.1f} s: {before:.1f} judgements/s before, {during:.1f} "
        f"during, {after:.1f} after; the freeze cost {lost:.1f} s of throughput"
    )


def main() -> None:
    args = parse_args()
    redis_server: subprocess.Popen[bytes] | None = None
    if args.freeze_redis:
        redis_server = own_redis_start(args.port + 1)
        os.environ["BENCH_REDIS"] = f"redis://127.0.0.1:{args.port + 1}/1"
    database_url = create_database(args.db)
    static_root = tempfile.mkdtemp(prefix="bench-static-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
        "CACHE_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/1"),
        # A fresh key space: rendered Markdown from an earlier run must not help this one.
        "CACHE_KEY_PREFIX": f"bench-annotate-{os.getpid()}-{time.time_ns()}",
    }
    os.environ.update(env)
    server: subprocess.Popen[bytes] | None = None
    try:
        load(args)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        server = start_gunicorn(args, env)
        annotators = [Annotator(args.port, f"annotator{n:02d}") for n in range(args.annotators)]
        for annotator in annotators:
            annotator.log_in()
        # Warm-up, untimed: each annotator opens the item page's first item (and each
        # gunicorn worker its database connection), as they would before starting work.
        warm_up = Stats()
        first_items = [annotator.next_item(warm_up) for annotator in annotators]
        if warm_up.errors:
            raise SystemExit(f"warm-up failed: {warm_up.errors[:3]}")
        stats = Stats()
        print(
            f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads; "
            f"{args.annotators} annotators for {args.seconds:.0f} s; order {args.order}; "
            f"{os.cpu_count()} CPUs, load average before: {load_average()}"
        )
        until = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=a.run,
                args=(first_items[n], until, stats, random.Random(n), args.two_requests),
            )
            for n, a in enumerate(annotators)
        ]
        started = time.perf_counter()
        started_at = time.monotonic()
        client_cpu = time.process_time()
        frozen: list[float] = []
        if redis_server is not None:

            def freeze(process: subprocess.Popen[bytes] = redis_server) -> None:
                time.sleep(args.freeze_at)
                frozen.append(time.monotonic())
                process.send_signal(signal.SIGSTOP)
                time.sleep(args.freeze_redis)
                process.send_signal(signal.SIGCONT)
                frozen.append(time.monotonic())

            threading.Thread(target=freeze, daemon=True).start()
        for thread in threads:
            thread.start()
        time.sleep(min(2.0, args.seconds / 4))
        web_pids, db_pids = server_pids(server, args.db)
        web_before, db_before = cpu_seconds(web_pids), cpu_seconds(db_pids)
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        web_cpu = cpu_seconds(web_pids) - web_before
        db_cpu = cpu_seconds(db_pids) - db_before
        client_cpu = time.process_time() - client_cpu
        print(f"load average after: {load_average()}")
        done = len(stats.judgements)
        print(f"completed judgements: {done} in {wall:.1f} s = {done / wall:.1f} judgements/s")
        if done:
            print(
                f"CPU per judgement (next + submit, after the first seconds): "
                f"gunicorn {1000 * web_cpu / done:.1f} ms, Postgres {1000 * db_cpu / done:.1f} ms, "
                f"client {1000 * client_cpu / done:.1f} ms"
            )
        labels = {"next": "next", "submit": "submit" if args.two_requests else "submit+next"}
        for kind, values in stats.latencies.items():
            if not values:
                continue
            ms = [v * 1000 for v in values]
            print(
                f"{labels[kind]:>11}: {len(ms)} requests, p50 {percentile(ms, 50):.1f} ms, "
                f"p95 {percentile(ms, 95):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
                f"mean {statistics.fmean(ms) if ms else float('nan'):.1f} ms"
            )
        print(f"409 conflicts: {stats.conflicts}; errors: {len(stats.errors)}")
        if len(frozen) == 2:
            freeze_report(stats, started_at, (frozen[0], frozen[1]), wall)
        for error in stats.errors[:5]:
            print(f"  {error}")
        problems = verify(stats, args.overlap)
        print("checks: " + ("OK (no over-assignment, no lost judgement)" if not problems else ""))
        for problem in problems:
            print(f"  PROBLEM: {problem}")
        if problems or stats.errors:
            raise SystemExit(1)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(args.db)
        if redis_server is not None:
            redis_server.send_signal(signal.SIGCONT)
            redis_server.terminate()
            redis_server.wait(timeout=10)


if __name__ == "__main__":
    main()
