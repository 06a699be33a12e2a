"""Helpers for the import tests: write small files, read back what an import stored."""

import gzip
import json
from pathlib import Path
from typing import Any

from feedback.models import Item, Judgement


def jsonl_write(path: Path, rows: list[Any], *, compress: bool = False) -> Path:
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def stored(item: Item) -> dict[str, Any]:
    """An item as plain data: messages, responses in order, and the imported ranking
    expressed as positions (0-based) of the responses."""
    responses = list(item.responses.order_by("position"))
    position_of = {r.pk: r.position for r in responses}
    judgements = list(Judgement.objects.filter(item=item))
    ranking = None
    if judgements:
        assert len(judgements) == 1
        ranking = [[position_of[pk] for pk in group] for group in judgements[0].ranking]
    return {
        "messages": item.messages,
        "responses": [r.content for r in responses],
        "ranking": ranking,
    }
