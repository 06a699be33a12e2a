"""``manage.py issue_token USERNAME``: print a new API token for the user (revoking any
earlier one); ``--revoke`` revokes without issuing."""

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.tokens import token_issue, token_revoke


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (the old one stops working)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="revoke, issue nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        if options["revoke"]:
            revoked = token_revoke(user=user)
            self.stdout.write("revoked" if revoked else "no token to revoke")
            return
        self.stdout.write(token_issue(user=user))
