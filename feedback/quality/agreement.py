"""A project's agreement report: how far its annotators agree, and how reliable each is.

Read from the current, rankable judgements of the project (human and imported alike; a
named annotator of an import, ``import:<source>/<name>``, counts as an annotator). Two
judgements are compared only where they ranked the same set of responses of the same
item (an item, or one round of it), so agreement is per round by construction. The
statistics are in ``feedback.quality.metrics`` and ``feedback.quality.reliability``.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from core.cache import cached_compute
from feedback.models import Project
from feedback.quality.metrics import (
    BOOTSTRAP_SAMPLES,
    Interval,
    fleiss_kappa,
    ordinal_alpha,
    pair_signs,
    rank_of,
    tau_b_signs,
)
from feedback.quality.reliability import dawid_skene
from feedback.selectors import project_judgement_state, project_rankable_judgements
from feedback.services.gold import gold_standings

VERDICTS = ("A", "B", "tie", "both_bad")
# Judgement sets (an item's responses judged together) with at least this many annotators
# are the ones agreement is measured on.
MIN_ANNOTATORS = 2
CACHE_SECONDS = 24 * 3600  # a state's report; a new judgement state gives a new key


@dataclass
class AnnotatorFigures:
    id: int
    username: str
    items: int = 0
    tau_b_mean: float | None = None
    gold_accuracy: float | None = None
    gold_judged: int = 0
    gold_flagged: bool = False
    reliability: float | None = None


@dataclass
class PairFigures:
    a: str
    b: str
    items: int
    tau_b: float | None


@dataclass
class AgreementReport:
    mode: str
    alpha: Interval
    items: int  # items with at least two annotators' judgements of the same responses
    judgements: int
    annotators: list[AnnotatorFigures]
    pairs: list[PairFigures]
    kappa: Interval | None = None  # pairwise projects
    agreement_rate: float | None = None  # pairwise: share of agreeing annotator pairs
    # Per item id: 1 - D_o(item) / D_e(project) (Krippendorff), for the review queue.
    item_alpha: dict[int, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def ci(interval: Interval | None) -> list[float] | None:
            if interval is None or interval.low is None or interval.high is None:
                return None
            return [interval.low, interval.high]

        out: dict[str, Any] = {
            "mode": self.mode,
            "alpha": self.alpha.value,
            "alpha_ci": ci(self.alpha),
            "items": self.items,
            "judgements": self.judgements,
            "annotators": [
                {
                    "username": a.username,
                    "items": a.items,
                    "tau_b_mean": a.tau_b_mean,
                    "gold_accuracy": a.gold_accuracy,
                    "gold_judged": a.gold_judged,
                    "gold_flagged": a.gold_flagged,
                    "reliability": a.reliability,
                }
                for a in self.annotators
            ],
            "pairs": [{"a": p.a, "b": p.b, "items": p.items, "tau_b": p.tau_b} for p in self.pairs],
            "reasons": self.reasons,
        }
        if self.mode == Project.Mode.PAIRWISE:
            out["kappa"] = self.kappa.value if self.kappa else None
            out["kappa_ci"] = ci(self.kappa)
            out["agreement_rate"] = self.agreement_rate
        return out


def _verdict(ranking: list[list[int]], both_bad: bool, first: int) -> int:
    if len(ranking) == 1:
        return 3 if both_bad else 2
    return 0 if ranking[0][0] == first else 1


def project_agreement(
    *, project: Project, samples: int = BOOTSTRAP_SAMPLES, include_reliability: bool = True
) -> AgreementReport:
    """Agreement and reliability figures of ``project`` (see the module docstring)."""
    rows = (
        project_rankable_judgements(project=project)
        .order_by("item_id", "id")
        .values_list("item_id", "annotator_id", "annotator__username", "ranking", "both_bad")
    )
    names: dict[int, str] = {}
    # (item, frozenset of ranked responses) -> [(annotator, ranking, both_bad)]
    sets: dict[tuple[int, frozenset[int]], list[tuple[int, list[list[int]], bool]]] = {}
    judgements = 0
    for item_id, annotator_id, username, ranking, both_bad in rows.iterator(chunk_size=5000):
        if not ranking:
            continue
        judgements += 1
        names[annotator_id] = username
        key = (item_id, frozenset(r for g in ranking for r in g))
        sets.setdefault(key, []).append((annotator_id, ranking, both_bad))

    annotator_ids = sorted(names)
    index = {a: n for n, a in enumerate(annotator_ids)}
    figures = {a: AnnotatorFigures(id=a, username=names[a]) for a in annotator_ids}
    shared = {k: v for k, v in sets.items() if len(v) >= MIN_ANNOTATORS}
    item_ids = sorted({item for item, _ in shared})
    item_index = {item: n for n, item in enumerate(item_ids)}
    reasons: dict[str, str] = {}

    # Krippendorff's alpha: units are (set, response); values the ranks.
    max_rank = max((len(r) for v in shared.values() for _, r, _ in v), default=1)
    unit_rows: list[list[int]] = []
    unit_items: list[int] = []
    for (item_id, responses), entries in shared.items():
        ranks = [rank_of(r) for _, r, _ in entries]
        for response in sorted(responses):
            counts = [0] * max_rank
            for rank in ranks:
                counts[rank[response] - 1] += 1
            unit_rows.append(counts)
            unit_items.append(item_index[item_id])
    if unit_rows:
        result = ordinal_alpha(
            np.array(unit_rows, dtype=np.int64),
            np.array(unit_items, dtype=np.int64),
            len(item_ids),
            samples=samples,
        )
        alpha = result.interval
        item_alpha = {
            item_ids[n]: value for n, value in enumerate(result.item_alpha) if value is not None
        }
    else:
        alpha = Interval(None, None, None, "no item was judged by two annotators")
        item_alpha = {}
    if alpha.value is None:
        reasons["alpha"] = alpha.reason

    # Kendall's tau-b per pair of annotators, the mean over the sets both ranked.
    pair_taus: dict[tuple[int, int], list[float]] = defaultdict(list)
    pair_items: dict[tuple[int, int], int] = defaultdict(int)
    for entry_list in sets.values():
        for a, _, _ in entry_list:
            figures[a].items += 1
    # Each judgement's pair signs, once: for tau-b here and the reliability model below.
    signed = {
        key: [(a, pair_signs(r, sorted(key[1]))) for a, r, _ in entries]
        for key, entries in shared.items()
    }
    for signs in signed.values():
        for (a, sa), (b, sb) in combinations(sorted(signs, key=lambda s: s[0]), 2):
            pair_items[(a, b)] += 1
            tau = tau_b_signs(sa, sb)
            if tau is not None:
                pair_taus[(a, b)].append(tau)
    pairs = []
    per_annotator: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for (a, b), count in sorted(pair_items.items()):
        taus = pair_taus.get((a, b), [])
        mean = sum(taus) / len(taus) if taus else None
        pairs.append(PairFigures(a=names[a], b=names[b], items=count, tau_b=mean))
        if mean is not None:
            per_annotator[a].append((mean, len(taus)))
            per_annotator[b].append((mean, len(taus)))
    for a, values in per_annotator.items():
        weight = sum(n for _, n in values)
        figures[a].tau_b_mean = sum(t * n for t, n in values) / weight
    if not pairs:
        reasons["pairs"] = "no two annotators judged the same responses"

    kappa = rate = None
    pairwise = project.mode == Project.Mode.PAIRWISE
    if pairwise:
        verdict_rows = []
        verdict_items = []
        for (item_id, responses), entries in shared.items():
            if len(responses) != 2:
                continue
            first = min(responses)
            counts = [0, 0, 0, 0]
            for _, r, both_bad in entries:
                counts[_verdict(r, both_bad, first)] += 1
            verdict_rows.append(counts)
            verdict_items.append(item_index[item_id])
        if verdict_rows:
            kappa, rate = fleiss_kappa(
                np.array(verdict_rows, dtype=np.int64),
                np.array(verdict_items, dtype=np.int64),
                samples=samples,
            )
        else:
            kappa = Interval(None, None, None, "no pair was judged by two annotators")
        if kappa.value is None:
            reasons["kappa"] = kappa.reason

    if include_reliability and shared and len(annotator_ids) >= 2:
        reliability = _reliability(shared, signed, index, pairwise=pairwise, n=len(annotator_ids))
        for a, value in zip(annotator_ids, reliability, strict=True):
            figures[a].reliability = float(value)
    elif include_reliability:
        reasons["reliability"] = "needs two annotators judging the same responses"

    report = AgreementReport(
        mode=project.mode,
        alpha=alpha,
        items=len(item_ids),
        judgements=judgements,
        annotators=sorted(figures.values(), key=lambda f: f.username),
        pairs=pairs,
        kappa=kappa,
        agreement_rate=rate,
        item_alpha=item_alpha,
        reasons=reasons,
    )
    _gold_apply(report, project=project)
    return report


def _gold_apply(report: AgreementReport, *, project: Project) -> None:
    """Each annotator's gold figures, read now (gold marks change without a judgement)."""
    standings = gold_standings(project=project, user_ids=[a.id for a in report.annotators])
    for figures in report.annotators:
        standing = standings.get(figures.id)
        figures.gold_accuracy = standing.accuracy if standing else None
        figures.gold_judged = standing.judged if standing else 0
        figures.gold_flagged = standing.flagged if standing else False


def agreement_cache_key(*, project: Project, samples: int) -> str:
    """Where the report of the project's current judgement state is kept."""
    return f"agreement:{project_judgement_state(project=project)}:{samples}"


def project_agreement_cached(
    *, project: Project, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[AgreementReport, bool]:
    """``project_agreement``, computed once per state of the project's judgements
    (``feedback.selectors.project_judgement_state``: a judgement written, edited or
    rejected gives a new state, so a cached report is never stale) and kept in the shared
    cache; gold figures are read fresh each time. With whether it came from the cache."""
    report, hit = cached_compute(
        agreement_cache_key(project=project, samples=samples),
        lambda: project_agreement(project=project, samples=samples),
        timeout=CACHE_SECONDS,
    )
    if hit:
        _gold_apply(report, project=project)
    return report, hit


def _reliability(
    shared: dict[tuple[int, frozenset[int]], list[tuple[int, list[list[int]], bool]]],
    signed: dict[tuple[int, frozenset[int]], list[tuple[int, list[int]]]],
    index: dict[int, int],
    *,
    pairwise: bool,
    n: int,
) -> np.ndarray:
    """Dawid-Skene reliabilities: tasks are the pairs of responses judged together."""
    tasks: list[int] = []
    annotators: list[int] = []
    labels: list[int] = []
    task = 0
    for key, entries in shared.items():
        order = sorted(key[1])
        if pairwise and len(order) == 2:
            for a, r, both_bad in entries:
                tasks.append(task)
                annotators.append(index[a])
                labels.append(_verdict(r, both_bad, order[0]))
            task += 1
            continue
        signs = signed[key]
        for p in range(len(order) * (len(order) - 1) // 2):
            for a, s in signs:
                tasks.append(task)
                annotators.append(index[a])
                labels.append(1 - s[p])  # 0: first above, 1: tied, 2: second above
            task += 1
    fit = dawid_skene(
        np.array(tasks, dtype=np.int64),
        np.array(annotators, dtype=np.int64),
        np.array(labels, dtype=np.int64),
        n_tasks=task,
        n_annotators=n,
        n_classes=4 if pairwise else 3,
    )
    return fit.reliability


@dataclass(frozen=True)
class AgreementCeiling:
    """How far the project's annotators agree with each other: the ceiling a reward
    model's held-out pairwise accuracy is to be read against (a model cannot be expected
    to agree with the people more than they agree among themselves)."""

    alpha: float | None  # Krippendorff's ordinal alpha
    agreement_rate: float | None  # pairwise projects: share of agreeing annotator pairs
    items: int  # items judged by two or more annotators
    reason: str = ""  # why alpha is None


def project_agreement_ceiling(*, project: Project) -> AgreementCeiling:
    """The project's human agreement ceiling, from its cached agreement report (no
    bootstrap: the registry shows the figures, the agreement page their intervals)."""
    report, _ = project_agreement_cached(project=project, samples=0)
    return AgreementCeiling(
        alpha=report.alpha.value,
        agreement_rate=report.agreement_rate,
        items=report.items,
        reason=report.reasons.get("alpha", ""),
    )


def annotator_reliabilities(*, project: Project) -> dict[int, float]:
    """Each annotator's Dawid-Skene reliability in ``project`` (for the export)."""
    report, _ = project_agreement_cached(project=project, samples=0)
    return {a.id: a.reliability for a in report.annotators if a.reliability is not None}
