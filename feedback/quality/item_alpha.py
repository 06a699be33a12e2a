"""Each item's agreement, for the review queue: the per-item Krippendorff alpha of
``feedback.quality.agreement`` (``1 - D_o(item) / D_e(project)``, the same units, values
and judgement sets, a test checks they are equal), without the rest of that report
(tau-b per pair, reliability, gold), read with one statement, and cached.

The cache key is the project and its current judgements: their count and their newest id. A
new judgement or an edit (a new row) changes the newest id, a rejection (a judgement no
longer current) the count, so a stale figure is never served; accepting changes nothing.
"""

from collections import defaultdict

import numpy as np
import orjson
from django.core.cache import cache
from django.db.models import Count, Max, TextField
from django.db.models.functions import Cast

from feedback.models import Judgement, Project
from feedback.quality.agreement import MIN_ANNOTATORS
from feedback.quality.metrics import ordinal_alpha

CACHE_SECONDS = 24 * 60 * 60


def item_alphas(*, project: Project) -> dict[int, float]:
    """Per item id (items two annotators ranked), the item's alpha; cached (see above)."""
    state = Judgement.objects.filter(item__project=project, is_current=True).aggregate(
        n=Count("id"), newest=Max("id")
    )
    # The project's creation time too: ids alone repeat in a database made afresh.
    born = project.created_at.timestamp()
    key = f"item-alpha:{project.pk}:{born}:{state['n']}:{state['newest']}"
    cached = cache.get(key)
    if isinstance(cached, dict):
        return cached
    alphas = _compute(project=project)
    cache.set(key, alphas, CACHE_SECONDS)
    return alphas


def _compute(*, project: Project) -> dict[int, float]:
    sets: dict[tuple[int, frozenset[int]], list[list[list[int]]]] = defaultdict(list)
    max_rank = 1
    rows = (
        Judgement.objects.filter(item__project=project, is_current=True, not_rankable=False)
        .order_by("item_id", "id")
        # the JSON as text, decoded by orjson: faster than the driver's json.loads
        .values_list("item_id", Cast("ranking", TextField()))
    )
    for item_id, text in rows:
        ranking = orjson.loads(text)
        if ranking:
            sets[(item_id, frozenset(r for g in ranking for r in g))].append(ranking)
            max_rank = max(max_rank, len(ranking))
    shared = {k: v for k, v in sets.items() if len(v) >= MIN_ANNOTATORS}
    item_ids = sorted({item for item, _ in shared})
    if not item_ids:
        return {}
    index = {item: n for n, item in enumerate(item_ids)}
    # Units are (judgement set, response); a unit's row counts the ranks it was given.
    units: list[int] = []  # each unit's item
    cells: list[int] = []  # unit * max_rank + (rank - 1), once per response ranked
    for (item_id, responses), rankings in shared.items():
        unit = {r: len(units) + n for n, r in enumerate(sorted(responses))}
        units.extend([index[item_id]] * len(responses))
        for ranking in rankings:
            for rank, group in enumerate(ranking):
                cells.extend(unit[r] * max_rank + rank for r in group)
    counts = np.bincount(np.array(cells, dtype=np.int64), minlength=len(units) * max_rank)
    result = ordinal_alpha(
        counts.reshape(len(units), max_rank).astype(np.int64),
        np.array(units, dtype=np.int64),
        len(item_ids),
        samples=0,
    )
    return {item_ids[n]: a for n, a in enumerate(result.item_alpha) if a is not None}
