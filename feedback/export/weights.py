"""Annotator reliability in the export: a ``weight`` column, a ``min_reliability``
filter and reliability-weighted consensus.

Each annotator's reliability is their Dawid-Skene score over every rankable judgement
of the project (``feedback.quality.agreement``, computed once per judgement state and
cached), whatever the export's own filters: the probability that they report the true
order of a pair. An annotator with no estimate (nobody else judged the responses they
judged) counts as the mean of the others' (1.0 when nobody has one).

- ``weight=reliability`` (per pair, TRL's pair formats): with ``aggregate=none`` the
  reliability of the judgement's annotator; with a consensus, the reliability-weighted
  agreement of the item's judgements with the pair (each judgement ranking both
  responses scores 1 when it orders them as the pair does, a tie counting as an order,
  0.5 when exactly one of the two ties them, 0 when reversed).
- ``margin=reliability``: the same number as TRL's ``margin`` column, for a stock
  ``RewardTrainer`` (which reads ``margin`` and no weight): its loss is
  ``-log sigmoid(r_chosen - r_rejected - margin)``, so a pair from a reliable annotator
  asks for a wider reward gap. A margin is not a loss weight; the engine's reward method
  reads ``weight`` as one (``training/engine/methods/reward.py``).
- ``min_reliability``: the judgements of annotators below it are left out before
  anything else (consensus, agreement and ``min_judgements`` see only the rest).
- ``aggregate=weighted-consensus``: Copeland's method with each judgement's duel votes
  counted with its annotator's reliability (``pairs.consensus_copeland``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from feedback.export.pairs import Pair, Ranking, pair_agreement
from feedback.models import Project
from feedback.quality.agreement import annotator_reliabilities


@dataclass(frozen=True)
class Reliabilities:
    by_annotator: dict[int, float]
    fallback: float

    def of(self, annotator_id: int) -> float:
        return self.by_annotator.get(annotator_id, self.fallback)

    def passing(self, minimum: float) -> tuple[list[int], list[int], bool]:
        """Annotators with an estimate at or above ``minimum``, those below it, and
        whether annotators without an estimate pass."""
        above = sorted(a for a, r in self.by_annotator.items() if r >= minimum)
        below = sorted(a for a, r in self.by_annotator.items() if r < minimum)
        return above, below, self.fallback >= minimum


def export_reliabilities(*, project: Project) -> Reliabilities:
    """The project's annotator reliabilities, as the export uses them."""
    known = annotator_reliabilities(project=project)
    fallback = sum(known.values()) / len(known) if known else 1.0
    return Reliabilities(by_annotator=known, fallback=fallback)


def pair_support(pair: Pair, rankings: Sequence[Ranking], weights: Sequence[float]) -> float:
    """The ``weights``-weighted agreement of ``rankings`` with ``pair`` (see above); 1.0
    when no ranking holds both responses."""
    total = support = 0.0
    for ranking, weight in zip(rankings, weights, strict=True):
        score = pair_agreement(ranking, pair)
        if score is not None:
            total += weight
            support += weight * score
    return support / total if total > 0 else 1.0
