"""Per-user API tokens (DRF's ``authtoken``): one live token per user, issued again to
rotate it and deleted to revoke it. Clients send ``Authorization: Token <key>``. The pages,
the API and ``manage.py issue_token`` all go through these two functions."""

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token


def token_issue(*, user: User) -> str:
    """A new token for ``user``; any earlier token stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return str(Token.objects.create(user=user).key)


def token_revoke(*, user: User) -> bool:
    """Revoke ``user``'s token; whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0


def token_exists(*, user: User) -> bool:
    return Token.objects.filter(user=user).exists()
