"""``manage.py import_items --project SLUG --format FORMAT PATH``: a thin door onto
``feedback.services.imports.items_import``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from feedback.selectors import project_get
from feedback.services.imports import IMPORT_FORMATS, error_text, items_import
from feedback.services.projects import project_create

SHOWN_ERRORS = 20


class Command(BaseCommand):
    help = "Import items, responses and preferences from a JSONL / JSON / gzip file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the file (.jsonl, .json, or either gzipped)")
        parser.add_argument("--project", required=True, help="slug of the target project")
        parser.add_argument("--format", required=True, choices=IMPORT_FORMATS)
        parser.add_argument(
            "--create-project",
            action="store_true",
            help="create the project (named after its slug) when it does not exist",
        )
        parser.add_argument(
            "--source-name",
            help="who the imported judgements are by: user import:<NAME> (default: the format)",
        )
        parser.add_argument(
            "--gold",
            action="store_true",
            help="import every row as a gold item (its 'gold' field, or its preference, is "
            "the expected answer)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["project"]
        try:
            try:
                project = project_get(slug=slug)
            except ApplicationError:
                if not options["create_project"]:
                    raise CommandError(
                        f"No project '{slug}'. Pass --create-project to create it."
                    ) from None
                project = project_create(name=slug, slug=slug)
                self.stdout.write(f"Created project '{slug}'.")
            result = items_import(
                project=project,
                source=options["path"],
                format=options["format"],
                source_name=options["source_name"],
                gold=options["gold"],
            )
        except ApplicationError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            errors = details.get("errors", [])[:SHOWN_ERRORS]
            for entry in errors:
                self.stderr.write(f"  {error_text(entry)}")
            count = details.get("error_count", 0)
            if count > len(errors):
                self.stderr.write(f"  ... and {count - len(errors)} more")
            raise CommandError(exc.message) from None

        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"  skipped {error_text(warning)}"))
        if result.rows_skipped > len(result.warnings):
            more = result.rows_skipped - len(result.warnings)
            self.stdout.write(f"  ... and {more} more skipped")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.rows_read} rows read: {result.items_created} items created "
                f"({result.items_existing} already there, {result.rows_skipped} skipped), "
                f"{result.responses_created} responses, {result.judgements_created} judgements."
            )
        )
