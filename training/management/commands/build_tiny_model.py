"""``manage.py build_tiny_model``: the ~1M-parameter local model that the offline demo and
the tests train, built into settings.BASE_MODEL (a thin door onto the engine's builder;
idempotent: does nothing if a model is already there)."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Build the tiny local base model into FEEDBACK_BASE_MODEL (if it is missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default=None, help="Another directory (default BASE_MODEL).")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        from training.engine import build_tiny_model  # loads torch: only when it runs

        target = Path(options["out"] or settings.BASE_MODEL)
        if not options["out"] and not target.is_absolute() and not target.exists():
            # A hub id (e.g. "Qwen/Qwen2.5-0.5B") is not ours to build.
            self.stdout.write(f"BASE_MODEL is {target}, not a local directory: nothing to build.")
            return
        path = build_tiny_model(target, seed=options["seed"])
        self.stdout.write(self.style.SUCCESS(f"Tiny model ready in {path}"))
