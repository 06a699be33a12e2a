"""manage.py build_tiny_model builds a loadable model into BASE_MODEL, once; manage.py
import_model turns a GGUF file into a base model under BASE_MODELS_DIR."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.engine.gguf_files import write_tiny_gguf
from training.selectors import base_models_available


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


@pytest.mark.slow
def test_import_model_registers_a_gguf_file_as_a_base_model_jobs_can_start_from(
    settings: Any, tmp_path: Path, tiny_model: Path
) -> None:
    settings.BASE_MODELS_DIR = tmp_path / "base-models"
    gguf_file = write_tiny_gguf(tiny_model, tmp_path / "Tiny Model.gguf")
    out = StringIO()

    call_command("import_model", str(gguf_file), stdout=out)

    target = tmp_path / "base-models" / "tiny-model"
    assert (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file()
    assert "Base model ready" in out.getvalue() and "dequantizing" in out.getvalue()
    assert base_models_available() == [settings.BASE_MODEL, str(target)]
    call_command("import_model", str(gguf_file), "--if-missing", stdout=out)
    assert "already imported" in out.getvalue()


def test_import_model_refuses_a_file_that_is_not_gguf_and_registers_nothing(
    settings: Any, tmp_path: Path
) -> None:
    settings.BASE_MODELS_DIR = tmp_path / "base-models"
    notes = tmp_path / "notes.gguf"
    notes.write_text("hello")
    with pytest.raises(CommandError, match="not a GGUF file"):
        call_command("import_model", str(notes))
    assert base_models_available() == [settings.BASE_MODEL]
    assert not any((tmp_path / "base-models").glob("*"))


def test_import_model_refuses_a_name_that_is_a_path(settings: Any, tmp_path: Path) -> None:
    settings.BASE_MODELS_DIR = tmp_path / "base-models"
    with pytest.raises(CommandError, match=r"--name '\.\./x'"):
        call_command("import_model", str(tmp_path / "a.gguf"), "--name", "../x")
