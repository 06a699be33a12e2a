"""Screenshots of the main pages for the README, taken in headless Chromium.

    python tools/screenshots.py [--out docs/screenshots] [--port 8790]

Everything happens in a throw-away folder: an SQLite database, the demo projects
(``load_demo``), a few judgements by the demo annotators, a real reward model trained on
the tiny local model (a job run inline, as CELERY_TASK_ALWAYS_EAGER runs it) and promoted,
then a development server that Playwright visits. Nothing is written outside that folder
but the PNG files. Needs Debian's chromium (``CHROMIUM_PATH`` to point elsewhere).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ADMIN = ("admin", "admin-demo-pass")
ANNOTATOR = ("alice", "alice-demo-pass")
REWARD_CONFIG = {
    "max_steps": 12,
    "logging_steps": 1,
    "save_steps": 6,
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 4,
    "eval_fraction": 0.25,
    "max_length": 256,
}


def environment(var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "development",
        "FEEDBACK_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'screens.sqlite3'}",
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "True",
        "AXES_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }


def prepare() -> None:
    """The data the pages show (runs in this process, configured by ``environment``)."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from feedback.models import Project
    from feedback.services.assignments import assignment_next, assignment_skip
    from feedback.services.judgements import judgement_submit
    from training.models import ModelVersion
    from training.services import job_create, model_promote

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    call_command("build_tiny_model", verbosity=0)
    project = Project.objects.get(slug="demo")
    for username, count in (("bob", 18), ("carol", 14), ("alice", 3)):
        user = User.objects.get(username=username)
        for n in range(count):
            lease = assignment_next(project=project, user=user)
            if lease is None:
                break
            ids = sorted(lease.item.responses.values_list("pk", flat=True))
            if username == "alice" and n == 2:
                assignment_skip(project=project, user=user, item=lease.item, reason="unsure")
                continue
            order = ids if n % 3 else list(reversed(ids))
            ranking = [[pk] for pk in order]
            ratings = {pk: 5 - min(4, rank) for rank, pk in enumerate(order)}
            judgement_submit(user=user, item=lease.item, ranking=ranking, ratings=ratings)
    admin = User.objects.get(username=ADMIN[0])
    job = job_create(
        project=project,
        kind="reward",
        launched_by=f"admin:{admin.username}",
        user=admin,
        snapshot_params={"format": "trl-conversational"},
        config=REWARD_CONFIG,
    )
    version = ModelVersion.objects.filter(job=job).first()
    if version is not None:
        model_promote(version=version)


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the development server did not start")


def shoot(base: str, out: Path, var: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    made: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(viewport={"width": 1360, "height": 860})
        page = context.new_page()
        page.set_default_timeout(20_000)

        def snap(name: str, *, full: bool = False) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full)
            made.append(path)

        def log_in(username: str, password: str) -> None:
            context.clear_cookies()
            page.goto(f"{base}/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", password)
            page.click(".login-card button[type=submit]")
            page.wait_for_url(f"{base}/")

        log_in(*ANNOTATOR)
        snap("home")
        page.goto(f"{base}/p/demo/")
        page.wait_for_selector("#item")
        page.keyboard.press("g")
        for key in ["2", "Shift+Digit4", "1", "Shift+Digit5"]:
            page.keyboard.press(key)
        snap("annotate-rank")
        page.goto(f"{base}/p/demo-pairwise/")
        page.wait_for_selector("#item")
        page.keyboard.press("b")
        snap("annotate-pairwise")
        page.goto(f"{base}/p/demo/judgements/")
        snap("my-judgements", full=True)

        log_in(*ADMIN)
        page.goto(f"{base}/projects/")
        snap("projects")
        page.goto(f"{base}/p/demo/settings/")
        snap("project-settings")
        page.goto(f"{base}/p/demo/members/")
        snap("members")
        page.goto(f"{base}/p/demo/dashboard/")
        snap("dashboard")
        bad = var / "prefs-with-a-bad-row.jsonl"
        bad.write_text(
            '{"prompt": "Hi?", "responses": ["Hello.", "Hey."], "ranking": [[0], [1]]}\n'
            '{"prompt": "One answer only?", "responses": ["Just this."]}\n'
        )
        page.goto(f"{base}/p/demo/import/")
        page.set_input_files("#import-file", str(bad))
        page.click("#import-submit")
        page.get_by_text("Nothing was written.").wait_for()
        snap("import-row-error")
        page.goto(f"{base}/p/demo/export/")
        page.click("#export-open")
        page.select_option("#ex-pairs", "best-vs-worst")
        page.click("#export-preview-button")
        page.wait_for_function(
            "() => document.querySelector('#export-preview').textContent.includes('chosen')"
        )
        snap("export-dialog")
        page.keyboard.press("Escape")
        page.goto(f"{base}/training/jobs/new/")
        page.fill("#config-reward-max_steps", "many")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector("#job-errors")
        snap("job-new-error")
        page.goto(f"{base}/training/jobs/")
        page.locator("#jobs tbody a").first.click()
        page.wait_for_selector("#charts .uplot")
        page.wait_for_timeout(500)
        snap("job-page", full=True)
        page.goto(f"{base}/training/models/")
        snap("registry")
        browser.close()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="feedback-screens-") as folder:
        var = Path(folder)
        env = environment(var)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        prepare()
        server = serve(env, args.port)
        try:
            for path in shoot(f"http://127.0.0.1:{args.port}", out, var):
                sys.stdout.write(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}\n"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
