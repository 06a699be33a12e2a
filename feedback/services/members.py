"""Who a project admin may add to a project (the policy of issue 15).

A project admin manages *their project*, not the site's accounts, so:

- a project admin who is not staff may add only **active, non-staff** accounts; adding a
  superuser or a staff member (or an inactive account, such as the ``import:<source>``
  users of imported judgements) is for staff;
- the answer for a name that does not exist is **the same** as for one that exists but
  may not be added ("no account you can add has this name"), so the form cannot be used
  to find out which staff or inactive accounts exist;
- adding someone does reveal that an ordinary account has that name: a project admin
  adds people they know; the API throttle (``API_THROTTLE_USER``) bounds guessing.

Staff may add any active account. The pages (by username or e-mail) and the API (by
username) find members through ``member_find``.
"""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from core.errors import ValidationError

NOT_ADDABLE = "no account you can add has this name"


def addable_users(*, actor: User) -> QuerySet[User]:
    """The accounts ``actor`` may add to a project they administer."""
    users = User.objects.filter(is_active=True)
    if not actor.is_staff:
        users = users.filter(is_staff=False, is_superuser=False)
    return users


def member_find(*, actor: User, name: str, field: str = "username", by_email: bool = False) -> User:
    """The account named ``name`` (a username; an e-mail too when ``by_email``) if
    ``actor`` may add it, else ``ValidationError`` with one answer for every refusal."""
    name = name.strip()
    if not name:
        raise ValidationError(f"{field}: required", details={field: ["type a username"]})
    users = addable_users(actor=actor)
    user = users.filter(username=name).first()
    if user is None and by_email and "@" in name:
        found = list(users.filter(email__iexact=name)[:2])
        if len(found) > 1:
            reason = "several accounts have this e-mail; use the username"
            raise ValidationError(f"{field}: {reason}", details={field: [reason]})
        user = found[0] if found else None
    if user is None:
        raise ValidationError(f"{field}: {NOT_ADDABLE}", details={field: [NOT_ADDABLE]})
    return user
