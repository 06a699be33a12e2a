"""manage.py build_tiny_model builds a loadable model into BASE_MODEL, once."""

from pathlib import Path
from typing import Any

from django.core.management import call_command


def test_build_tiny_model_builds_into_base_model_and_is_idempotent(
    settings: Any, tmp_path: Path
) -> None:
    settings.BASE_MODEL = str(tmp_path / "tiny")
    call_command("build_tiny_model")
    weights = tmp_path / "tiny" / "model.safetensors"
    assert weights.is_file() and (tmp_path / "tiny" / "tokenizer.json").is_file()
    built_at = weights.stat().st_mtime_ns
    call_command("build_tiny_model")
    assert weights.stat().st_mtime_ns == built_at
