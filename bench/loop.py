"""The loop on CPU: from the N-th new human judgement to a promoted model, by stage.

It creates its own database (``--db``, default ``feedback_jobs_bench``) and artifact
folders, builds the tiny model, imports ``--items`` prompts with two answers each, starts
a REAL Celery worker (Redis broker, queues default and gpu, prefork concurrency 1), and
submits human judgements through ``judgement_submit`` until the retrain policy's
threshold is met. At the N-th judgement it runs the threshold check (what beat does every
``check_every_seconds``; beat's polling delay is reported separately, not measured), then
waits for the run: snapshot -> reward model -> DPO policy -> win-rate evaluation ->
promotion. Printed: wall time per stage, engine time per stage, and the orchestration
overhead = loop time - engine time (the engine's own training, evaluation, model loading
and its lazy torch import count as engine). Target: overhead < 5 % of the loop.

Run:  .venv/bin/python bench/loop.py [--items 64] [--steps 20] [--method dpo]
"""

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import create_database, drop_database  # noqa: E402

REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/6")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=64, help="prompts judged (= threshold N)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per training")
    parser.add_argument("--method", default="dpo", choices=["dpo", "grpo", "rloo", "ppo"])
    parser.add_argument("--eval-prompts", type=int, default=8)
    parser.add_argument("--db", default="feedback_jobs_bench")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    env = {
        **os.environ,
        "DATABASE_URL": create_database(args.db),
        "CELERY_BROKER_URL": REDIS,
        "FEEDBACK_ARTIFACT_DIR": str(scratch / "models"),
        "FEEDBACK_SNAPSHOT_DIR": str(scratch / "snapshots"),
        "FEEDBACK_BASE_MODEL": str(scratch / "tiny"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from feedback.services.assignments import assignment_next
    from feedback.services.imports import items_import
    from feedback.services.judgements import judgement_submit
    from feedback.services.projects import membership_set, project_create
    from training.engine import build_tiny_model
    from training.models import TrainingJob
    from training.services import retrain_check, retrain_policy_save

    call_command("migrate", verbosity=0)
    build_tiny_model(scratch / "tiny")
    redis.Redis.from_url(REDIS).flushdb()

    project = project_create(name="Bench loop", slug="bench-loop", overlap=1)
    annotator = User.objects.create_user("bench-annotator")
    membership_set(project=project, user=annotator, role="annotator")
    rows = [
        {
            "external_id": f"q{i}",
            "prompt": f"Question number {i}: what is {i} plus {i}?",
            "responses": [f" {i} plus {i} is {2 * i}.", " I do not know."],
        }
        for i in range(args.items)
    ]
    source = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    items_import(project=project, source=source, format="native")
    train = {
        "max_steps": args.steps,
        "logging_steps": 1,
        "save_steps": max(5, args.steps // 2),
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-4,
        "max_length": 128,
    }
    if args.method in ("grpo", "rloo"):
        train["num_generations"] = 4
    retrain_policy_save(
        project=project,
        enabled=True,
        min_new_judgements=args.items,
        policy_method=args.method,
        win_rate_threshold=0.0,
        eval_prompts=args.eval_prompts,
        check_every_seconds=5,
        reward_config=train,
        policy_config=train,
        evaluate_config={"max_new_tokens": 16},
        generate_after=False,
    )

    log = scratch / "worker.log"
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu"),
            *("--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle"),
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env={**env, "LOG_LEVEL": "INFO"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.2)

        for _ in range(args.items):
            lease = assignment_next(project=project, user=annotator)
            assert lease is not None
            good, bad = lease.item.responses.order_by("position").values_list("pk", flat=True)
            judgement_submit(user=annotator, item=lease.item, ranking=[[good], [bad]])
        t0 = time.monotonic()  # the N-th new judgement is in
        run = retrain_check(project=project, launched_by="schedule:bench")
        assert run is not None, "the threshold did not trigger"
        while True:
            run.refresh_from_db()
            if run.status != "running":
                break
            time.sleep(0.05)
        total = time.monotonic() - t0
        if run.status == "failed":
            raise SystemExit(f"run failed: {run.error}\n{log.read_text()[-3000:]}")
        jobs = list(TrainingJob.objects.filter(retrain_run=run).order_by("id"))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    stages = ["snapshot", "reward", "policy", "evaluation", "promotion"]
    engine_total = sum(float(run.timings.get(s, {}).get("engine", 0.0)) for s in stages)
    stage_wall = sum(float(run.timings.get(s, {}).get("wall", 0.0)) for s in stages)
    print(
        f"loop: {args.items} judgements -> {run.status} ({args.method}, {args.steps} steps, "
        f"{args.eval_prompts} held-out prompts), worker prefork concurrency 1, CPU"
    )
    print(f"{'stage':<12}{'wall s':>10}{'engine s':>10}{'overhead s':>12}")
    for stage in stages:
        t = run.timings.get(stage, {})
        wall, eng = float(t.get("wall", 0.0)), float(t.get("engine", 0.0))
        print(f"{stage:<12}{wall:>10.2f}{eng:>10.2f}{wall - eng:>12.2f}")
    between = total - stage_wall
    print(
        f"{'hand-offs':<12}{between:>10.2f}{0.0:>10.2f}{between:>12.2f}"
        "   (commit -> next job row, polling of this script)"
    )
    overhead = total - engine_total
    print(f"{'total':<12}{total:>10.2f}{engine_total:>10.2f}{overhead:>12.2f}")
    print(
        f"orchestration overhead: {overhead:.2f} s = {100 * overhead / total:.1f} % of the loop"
        " (target < 5 %)"
    )
    print(f"jobs: {', '.join(f'{j.kind}#{j.pk} {j.status} {j.engine_seconds:.2f}s' for j in jobs)}")
    print(f"win rate {run.win_rate.get('win_rate')} over n={run.win_rate.get('n')}")
    print("not measured: beat's polling delay before the check (up to check_every_seconds)")
    if not args.keep_db:
        from django.db import connections

        connections.close_all()
        drop_database(args.db)


if __name__ == "__main__":
    main()
