"""The one input of a judgement, for every door that takes one: the annotators' page posts
it as JSON, the API as a DRF request; both validate it with ``JudgementFieldsInput`` and
hand it to ``judgement_submit`` here, so a field means the same and fails the same way."""

import json
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User

from core.errors import ValidationError
from feedback.api.serializers import JudgementFieldsInput
from feedback.models import Item, Judgement
from feedback.services.judgements import judgement_submit


def judgement_input_validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``'s judgement fields, checked and coerced; ValidationError naming each bad
    field (the message names the first)."""
    body = JudgementFieldsInput(data=data)
    if not body.is_valid():
        details = json.loads(json.dumps(body.errors))  # ErrorDetail -> str, nested as DRF has it
        first = next(iter(details))
        raise ValidationError(f"{first}: {_first_reason(details[first])}", details=details)
    return dict(body.validated_data)


def _first_reason(value: Any) -> str:
    """The first message in DRF's nested errors (a list, or a dict by index or key)."""
    while isinstance(value, list | dict) and value:
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
    return str(value) if value else "not valid"


def judgement_input_submit(*, user: User, item: Item, fields: Mapping[str, Any]) -> Judgement:
    """Record ``user``'s judgement of ``item`` from validated ``fields``."""
    return judgement_submit(
        user=user,
        item=item,
        ranking=fields.get("ranking"),
        both_bad=fields.get("both_bad", False),
        ratings=fields.get("ratings"),
        rationale=fields.get("rationale", ""),
        not_rankable=fields.get("not_rankable", False),
        flag_reason=fields.get("flag_reason", ""),
        shown_order=fields.get("shown_order"),
        time_spent_ms=fields.get("time_spent_ms"),
        round=fields.get("round"),
    )
