"""The login backend: Django's ModelBackend, with a leaner ``get_user``.

``get_user`` runs on every authenticated request (it turns the session into
``request.user``); here it is one hand-written statement (see ``core.sql``) instead of a
compiled ORM query. Authentication, permissions and ``is_active`` handling are Django's.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import User

from core import sql


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        model = get_user_model()
        statement = (
            f"SELECT {sql.columns(model, 'u')} FROM {sql.table(model)} u "
            f"WHERE u.{sql.column(model._meta.pk)} = %s"
        )
        found = sql.fetch(model, statement, [user_id])
        if not found or not self.user_can_authenticate(found[0]):
            return None
        return found[0]
