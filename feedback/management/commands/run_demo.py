"""``manage.py run_demo``: the web app, a Celery worker (queues default and gpu) and beat,
as child processes on the embedded default (SQLite and the filesystem broker unless the
environment says otherwise). Ctrl-C stops them all; if one dies, the rest are stopped
and the command exits non-zero."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from feedback.management.supervisor import Child, children_run
from feedback.services.demo import DEMO_ADMIN, DEMO_ANNOTATORS


class Command(BaseCommand):
    help = "Run the demo: web app, Celery worker and beat; Ctrl-C stops everything."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "config.celery:app"]
        log = ["--loglevel", "INFO"]
        beat_scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
        children = [
            Child("web", [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"]),
            Child(
                "worker",
                [
                    *celery,
                    "worker",
                    "-Q",
                    "default,gpu",
                    "--concurrency",
                    "1",
                    "-n",
                    "demo@%h",
                    *log,
                ],
            ),
            Child("beat", [*celery, "beat", "-S", beat_scheduler, *log]),
        ]

        def started() -> None:
            shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
            self.stdout.write(self.style.SUCCESS(f"\nFeedback Loop demo: http://{shown}:{port}/"))
            self.stdout.write(f"Admin: http://{shown}:{port}/admin/")
            for username, password in (DEMO_ADMIN, *DEMO_ANNOTATORS):
                self.stdout.write(f"  login {username:<6} password {password}")
            self.stdout.write(self.style.WARNING("Demo passwords only. Ctrl-C stops everything.\n"))

        outcome = children_run(children, started=started)
        if outcome.failed is not None:
            raise CommandError(
                f"{outcome.failed} stopped unexpectedly (exit code {outcome.returncode}); "
                "the other processes were stopped."
            )
        self.stdout.write("Demo stopped.")
