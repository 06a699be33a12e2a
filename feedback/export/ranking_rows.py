"""Rows of the rankings format: one per judgement, or one per item's consensus, with the
item, its responses and who ranked them."""

from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from feedback.export.items import JudgedItem, Row, json_value, mean_ratings
from feedback.export.reading import JudgementRow


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def _response_list(item: JudgedItem) -> list[Row]:
    return [
        {
            "id": r.id,
            "position": r.position,
            "content": r.content,
            "source": r.source,
            "model_name": r.model_name,
        }
        for r in sorted(item.responses.values(), key=attrgetter("position"))
    ]


def _item_dict(item: JudgedItem) -> Row:
    return {
        "id": item.id,
        "external_id": item.external_id,
        "messages": item.messages,
        "metadata": item.metadata,
    }


def _ratings_out(ratings: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in sorted(ratings.items())}


def judgement_row(item: JudgedItem, row: JudgementRow, score: float | None) -> Row:
    return {
        "judgement_id": row.id,
        "item": _item_dict(item),
        "round": item.round,
        "responses": _response_list(item),
        "ranking": json_value(row.ranking),
        "both_bad": bool(row.both_bad),
        "ratings": json_value(row.ratings),
        "rationale": row.rationale,
        "not_rankable": bool(row.not_rankable),
        "flag_reason": row.flag_reason,
        "annotator": {"id": row.annotator_id, "username": row.username},
        "source": row.source,
        "shown_order": json_value(row.shown_order),
        "time_spent_ms": row.time_spent_ms,
        "version": row.version,
        "created_at": _iso(row.created_at),
        "agreement": score,
    }


def consensus_row(
    item: JudgedItem,
    rankable: list[tuple[JudgementRow, list[list[int]]]],
    ranking: list[list[int]],
    score: float | None,
    scores: dict[int, int],
) -> Row:
    rows = [row for row, _ in rankable]
    return {
        "item": _item_dict(item),
        "round": item.round,
        "responses": _response_list(item),
        "ranking": ranking,
        "agreement": score,
        "copeland_scores": {str(k): v for k, v in sorted(scores.items())},
        "ratings": _ratings_out(mean_ratings(rows)),
        "judgement_count": len(rows),
        "judgement_ids": [row.id for row in rows],
        "annotators": [{"id": row.annotator_id, "username": row.username} for row in rows],
    }
