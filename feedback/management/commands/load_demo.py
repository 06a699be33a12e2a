"""``manage.py load_demo``: the demo projects and accounts (a thin door onto demo_load)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from feedback.services.demo import demo_load


class Command(BaseCommand):
    help = "Create the demo projects, their items, an admin and three annotators (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = demo_load()
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo projects: {', '.join(result.projects)} "
                f"({result.items_created} items created this time)."
            )
        )
        self.stdout.write("Demo logins:")
        for username, password, role in result.logins:
            self.stdout.write(f"  {username:<8} {password:<18} {role}")
        self.stdout.write(
            self.style.WARNING(
                "These passwords are published: demo only. Never use them on a server "
                "anyone else can reach."
            )
        )
