import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY"}}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_deploy_check_is_clean() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        SECRET_KEY="x7Kq-" + "a9B3zR" * 10,
        ALLOWED_HOSTS="example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_migrations_are_up_to_date() -> None:
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def _settings_value(expression: str, **env: str) -> str:
    code = f"from django.conf import settings; print({expression})"
    result = _manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # after the shell's own notice, if any


def test_sessions_use_the_shared_cache_only_when_there_is_one() -> None:
    shared = _settings_value(
        "settings.SESSION_ENGINE, settings.CACHES['default']['BACKEND'], sep=' '",
        CACHE_URL="redis://127.0.0.1:6379/1",
    )
    assert shared == "core.sessions core.cache.RedisCache"
    # A per-process memory cache would let a logged-out session live on in another process.
    alone = _settings_value("settings.SESSION_ENGINE", CACHE_URL="locmemcache://")
    assert alone == "django.contrib.sessions.backends.db"
