"""Fixtures for the training jobs: the tiny model, per-test artifact folders, preference
data in the database, and REAL Celery worker processes on Redis (no eager mode).

A worker is ``celery -A config worker -Q default,gpu --pool=prefork --concurrency=1`` started
as a subprocess in its own process group, with DATABASE_URL pointing at pytest-django's
test database; tests that use it are ``transaction=True`` so the worker sees their rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from feedback.models import Item, Judgement, Membership, Project, Response
from tests.preference_texts import BAD, GOOD, QUESTIONS
from training.engine import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]


# Few steps, checkpoints and progress at every step: whole jobs take seconds on a CPU.
FAST: dict[str, object] = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 4,
    "eval_fraction": 0.25,
    "max_length": 128,
}
FAST_GENERATE: dict[str, object] = {"max_new_tokens": 8, "batch_size": 8}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def training_env(settings: Any, tmp_path: Path, tiny_model: Path) -> dict[str, str]:
    """Per-test artifact and snapshot folders, the tiny model as the base model, and short
    heartbeat/poll intervals, for this process and (as environment) for the workers."""
    values = {
        "FEEDBACK_ARTIFACT_DIR": str(tmp_path / "models"),
        "FEEDBACK_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "FEEDBACK_BASE_MODEL": str(tiny_model),
        "TRAINING_HEARTBEAT_SECONDS": "0.5",
        "TRAINING_STALE_AFTER_SECONDS": "4",
        "TRAINING_FLUSH_SECONDS": "0.2",
        "TRAINING_CANCEL_POLL_SECONDS": "0.2",
    }
    settings.ARTIFACT_DIR = Path(values["FEEDBACK_ARTIFACT_DIR"])
    settings.SNAPSHOT_DIR = Path(values["FEEDBACK_SNAPSHOT_DIR"])
    settings.BASE_MODEL = values["FEEDBACK_BASE_MODEL"]
    settings.TRAINING_HEARTBEAT_SECONDS = 0.5
    settings.TRAINING_STALE_AFTER_SECONDS = 4.0
    settings.TRAINING_FLUSH_SECONDS = 0.2
    settings.TRAINING_CANCEL_POLL_SECONDS = 0.2
    return values


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class CeleryProcess:
    """A real ``celery`` process (a worker and its pool child, or beat) in its own process
    group, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready: str) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ready_text = ready
        wait_for(self.ready, timeout=90, what=f"celery {args[0]} to start (log: {log})")

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"celery exited early:\n{self.output()}")
        return self.ready_text in self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9 the process group: what a power cut looks like."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


WORKER_ARGS = [
    "worker",
    "-Q",
    "default,gpu",
    "--pool=prefork",
    "--concurrency=1",
    "--loglevel=INFO",
    "--without-gossip",
    "--without-mingle",
]
BEAT_ARGS = [
    "beat",
    "-S",
    "django_celery_beat.schedulers:DatabaseScheduler",
    "--loglevel=DEBUG",
    "--max-interval=1",
]


@pytest.fixture
def celery_env(training_env: dict[str, str], transactional_db: None) -> Iterator[dict[str, str]]:
    """Environment for celery processes: this test's database, the Redis broker."""
    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith("redis://"):
        pytest.skip("the worker tests need CELERY_BROKER_URL=redis://... (make pytest sets it)")
    import redis

    redis.Redis.from_url(broker).flushdb()
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    yield {
        **os.environ,
        **training_env,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    redis.Redis.from_url(broker).flushdb()


@pytest.fixture
def start_worker(
    celery_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[], CeleryProcess]]:
    """Start real workers (queues default and gpu, prefork, concurrency 1)."""
    started: list[CeleryProcess] = []

    def start() -> CeleryProcess:
        n = len(started)
        args = [*WORKER_ARGS, "-n", f"jobs-test-{n}@%h"]
        worker = CeleryProcess(args, celery_env, tmp_path / f"worker-{n}.log", " ready.")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_beat(celery_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], CeleryProcess]]:
    """Start celery beat on django-celery-beat's database scheduler."""
    started: list[CeleryProcess] = []

    def start() -> CeleryProcess:
        beat = CeleryProcess(BEAT_ARGS, celery_env, tmp_path / "beat.log", "beat: Starting")
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop()


def preference_data(
    *, slug: str = "loop", items: int = 16, annotators: int = 2
) -> tuple[Project, User, list[User]]:
    """A rank project with ``items`` prompts of two responses each (good, bad), judged by
    ``annotators`` humans who prefer the good one, and an admin."""
    project = Project.objects.create(name=slug.title(), slug=slug, responses_per_item=2)
    admin = User.objects.create_user(f"{slug}-admin", password="pw-admin-123456")
    Membership.objects.create(project=project, user=admin, role="admin")
    people = []
    for n in range(annotators):
        user = User.objects.create_user(f"{slug}-annotator-{n}", password="pw-annot-123456")
        Membership.objects.create(project=project, user=user, role="annotator")
        people.append(user)
    for i in range(items):
        item = Item.objects.create(
            project=project,
            external_id=f"q{i}",
            messages=[{"role": "user", "content": f"{QUESTIONS[i % 8]} ({i})"}],
        )
        good = Response.objects.create(item=item, position=0, content=GOOD[i % 8])
        bad = Response.objects.create(item=item, position=1, content=BAD[i % 8])
        for user in people:
            Judgement.objects.create(item=item, annotator=user, ranking=[[good.pk], [bad.pk]])
    return project, admin, people
