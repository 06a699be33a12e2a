"""Small helpers for the hand-written statements on the annotators' hot path.

The ORM compiles every query anew on every call. On the next-item path that cost more
CPU than the database spent running the statements (``bench/annotate.py``: ORM
compilation was a third of the CPU per judgement), so the lease statements of
``feedback.services.assignments`` are written out in SQL, as are the two statements of
the judgement write the ORM cannot say in one (a ``FOR UPDATE OF`` over a join, an
``UPDATE ... RETURNING``). These helpers keep them tied to the
models: table and column names come from ``_meta``, values are prepared by each field's
own ``get_db_prep_save`` exactly as ``Model.save()`` prepares them, and every value is a
parameter. Everything else in the project uses the ORM.
"""

from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

M = TypeVar("M", bound=Model)


def qn(name: str) -> str:
    """A quoted table or column name."""
    return connection.ops.quote_name(name)


def table(model: type[Model]) -> str:
    return qn(model._meta.db_table)


def column(field: Any) -> str:
    """A concrete field's quoted column name."""
    return qn(field.column)


def columns(model: type[Model], alias: str) -> str:
    """``alias.col1, alias.col2, ...`` for every concrete field, in ``_meta`` order (the
    order ``Model.from_db`` expects)."""
    return ", ".join(f"{alias}.{column(f)}" for f in model._meta.concrete_fields)


def datetime_param(value: datetime) -> Any:
    """A datetime as this database's driver wants it in a hand-written statement."""
    return connection.ops.adapt_datetimefield_value(value)


def _converters(model: type[Model]) -> list[tuple[int, Any, list[Any]]]:
    """Per column of ``columns(model, ...)``: the converters the ORM's compiler would run
    on it (the backend's, then the field's ``from_db_value``)."""
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        chain = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if chain:
            found.append((index, col, chain))
    return found


def fetch(model: type[M], statement: str, params: Any) -> list[M]:
    """Run a SELECT whose columns are ``columns(model, alias)`` and return model instances,
    converted as the ORM converts them: ``Model.objects.raw()`` at a fraction of its cost
    (it inspects the cursor's description on every call)."""
    return [instance for instance, _ in fetch_with_extra(model, statement, params)]


def fetch_with_extra(
    model: type[M], statement: str, params: Any
) -> list[tuple[M, tuple[Any, ...]]]:
    """``fetch`` for a SELECT of ``columns(model, alias)`` followed by more columns: each
    instance with the raw values of those extra columns."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    converters = _converters(model)
    names = [f.attname for f in model._meta.concrete_fields]
    width = len(names)
    found = []
    for row in rows:
        values = list(row[:width])
        for index, col, chain in converters:
            for converter in chain:
                values[index] = converter(values[index], col, connection)
        found.append((model.from_db(connection.alias, names, values), tuple(row[width:])))
    return found


def datetime_value(value: Any) -> datetime:
    """A datetime column read by a hand-written statement, as an aware datetime (SQLite
    hands back text in UTC without an offset)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {value!r}")
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
