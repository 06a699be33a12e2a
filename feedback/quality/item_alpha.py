"""Each item's agreement, for the review queue: the per-item Krippendorff alpha of
``feedback.quality.agreement`` (``1 - D_o(item) / D_e(project)``, the same units, values
and judgement sets, a test checks they are equal), without the rest of that report
(tau-b per pair, reliability, gold), read with one plain statement, and cached.

The cache key is the project and its current judgements: their count and their newest id. A
new judgement or an edit (a new row) changes the newest id, a rejection (a judgement no
longer current) the count, so a stale figure is never served; accepting changes nothing.
"""

from collections import defaultdict

import numpy as np
import orjson
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max

from core import sql
from feedback.models import Item, Judgement, Project
from feedback.quality.agreement import MIN_ANNOTATORS
from feedback.quality.metrics import ordinal_alpha, rank_of

CACHE_SECONDS = 24 * 60 * 60

_RANKINGS_SQL = """
SELECT j.item_id, j.ranking::text FROM {judgement} j JOIN {item} i ON i.id = j.item_id
WHERE i.project_id = %s AND j.is_current AND NOT j.not_rankable
ORDER BY j.item_id, j.id
"""


def item_alphas(*, project: Project) -> dict[int, float]:
    """Per item id (items two annotators ranked), the item's alpha; cached (see above)."""
    state = Judgement.objects.filter(item__project=project, is_current=True).aggregate(
        n=Count("id"), newest=Max("id")
    )
    # The project's creation time too: ids alone repeat in a database made afresh.
    born = project.created_at.timestamp()
    key = f"item-alpha:{project.pk}:{born}:{state['n']}:{state['newest']}"
    cached = cache.get(key)
    if cached is not None:
        return {int(k): v for k, v in cached.items()}
    alphas = _compute(project=project)
    cache.set(key, {str(k): v for k, v in alphas.items()}, CACHE_SECONDS)
    return alphas


def _compute(*, project: Project) -> dict[int, float]:
    sets: dict[tuple[int, frozenset[int]], list[list[list[int]]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            _RANKINGS_SQL.format(judgement=sql.table(Judgement), item=sql.table(Item)),
            [project.pk],
        )
        for item_id, text in cursor.fetchall():
            ranking = orjson.loads(text)
            if ranking:
                sets[(item_id, frozenset(r for g in ranking for r in g))].append(ranking)
    shared = {k: v for k, v in sets.items() if len(v) >= MIN_ANNOTATORS}
    item_ids = sorted({item for item, _ in shared})
    if not item_ids:
        return {}
    index = {item: n for n, item in enumerate(item_ids)}
    max_rank = max(len(r) for rankings in shared.values() for r in rankings)
    rows: list[list[int]] = []
    units: list[int] = []
    for (item_id, responses), rankings in shared.items():
        ranks = [rank_of(r) for r in rankings]
        for response in sorted(responses):
            counts = [0] * max_rank
            for rank in ranks:
                counts[rank[response] - 1] += 1
            rows.append(counts)
            units.append(index[item_id])
    result = ordinal_alpha(
        np.array(rows, dtype=np.int64), np.array(units, dtype=np.int64), len(item_ids), samples=0
    )
    return {item_ids[n]: a for n, a in enumerate(result.item_alpha) if a is not None}
