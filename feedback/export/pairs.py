"""From rankings to preference pairs, and from several rankings of one item to a consensus.

Pure functions over response ids; no database. A ranking is a list of groups of response
ids, best group first; a group of more than one id is a tie.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Ranking = Sequence[Sequence[int]]


@dataclass(frozen=True, slots=True)
class Pair:
    chosen: int
    rejected: int
    rank_distance: int  # groups between them; 0 for a tie


def ranking_pairs(
    ranking: Ranking, *, mode: str, ties: str, position: Mapping[int, int] | None = None
) -> list[Pair]:
    """The preference pairs a ranking gives.

    ``mode``: ``all`` (every response against every response in a lower group),
    ``best-vs-rest`` (the best group against every other), ``best-vs-worst`` (the best
    group against the worst). ``ties="margin0"`` adds one pair per two tied responses
    (inside every group for ``all``, inside the best group otherwise) with distance 0;
    ``ties="skip"`` leaves ties out. Within a group, responses are taken in ``position``
    order (arrival order), so the output is deterministic.
    """
    if position is not None:
        groups = [
            sorted(g, key=lambda r: (position.get(r, r), r)) if len(g) > 1 else g
            for g in ranking
            if g
        ]
    else:
        groups = [g for g in ranking if g]
    out: list[Pair] = []
    last = len(groups) - 1
    for i, upper in enumerate(groups):
        if mode == "all":
            lower_indices = range(i + 1, len(groups))
        elif i == 0 and mode == "best-vs-rest":
            lower_indices = range(1, len(groups))
        elif i == 0 and mode == "best-vs-worst":
            lower_indices = range(last, last + 1) if last > 0 else range(0)
        else:
            lower_indices = range(0)
        if ties == "margin0" and (mode == "all" or i == 0):
            for a_index, a in enumerate(upper):
                for b in upper[a_index + 1 :]:
                    out.append(Pair(a, b, 0))
        for j in lower_indices:
            for a in upper:
                for b in groups[j]:
                    out.append(Pair(a, b, j - i))
    return out


def _ranks(ranking: Ranking) -> dict[int, int]:
    return {r: index for index, group in enumerate(ranking) for r in group}


@dataclass(frozen=True)
class Consensus:
    ranking: list[list[int]]
    agreement: float
    scores: dict[int, int]


def consensus_copeland(
    rankings: Sequence[Ranking],
    *,
    position: Mapping[int, int] | None = None,
    weights: Sequence[float] | None = None,
) -> Consensus:
    """One ranking from several by Copeland's method, with an agreement score.

    For every two responses that some judgement ranks, the one ranked above the other by
    more judgements wins the duel (an equal count is a drawn duel). A response's Copeland
    score is its duel wins minus its duel losses; the consensus ranks by score, best first,
    and equal scores form a tie group (ties are not broken arbitrarily).

    Agreement is the mean, over every judgement and every two responses it ranks, of 1 when
    the judgement orders them as the consensus does (a tie counts as an order), 0.5 when one
    of the two ties them and the other does not, and 0 when they are reversed. One judgement
    always agrees fully with itself; an item with nothing to compare scores 1.0.

    With ``weights`` (one per ranking, e.g. its annotator's reliability) a ranking's duel
    votes and its part of the agreement count with its weight.
    """
    ranks = [_ranks(r) for r in rankings]
    votes = [1.0] * len(ranks) if weights is None else list(weights)
    responses = sorted({r for rk in ranks for r in rk}, key=lambda r: _pos(position, r))
    wins: dict[tuple[int, int], float] = {}
    for rk, vote in zip(ranks, votes, strict=True):
        present = [r for r in responses if r in rk]
        for index, a in enumerate(present):
            for b in present[index + 1 :]:
                if rk[a] < rk[b]:
                    wins[(a, b)] = wins.get((a, b), 0) + vote
                elif rk[b] < rk[a]:
                    wins[(b, a)] = wins.get((b, a), 0) + vote
    scores = dict.fromkeys(responses, 0)
    for index, a in enumerate(responses):
        for b in responses[index + 1 :]:
            ab, ba = wins.get((a, b), 0), wins.get((b, a), 0)
            if ab > ba:
                scores[a] += 1
                scores[b] -= 1
            elif ba > ab:
                scores[b] += 1
                scores[a] -= 1
    by_score: dict[int, list[int]] = {}
    for r in responses:
        by_score.setdefault(scores[r], []).append(r)
    ranking = [by_score[s] for s in sorted(by_score, reverse=True)]
    return Consensus(
        ranking=ranking, agreement=agreement(rankings, ranking, weights=weights), scores=scores
    )


def agreement(
    rankings: Sequence[Ranking], reference: Ranking, *, weights: Sequence[float] | None = None
) -> float:
    """How far ``rankings`` agree with ``reference`` (see ``consensus_copeland``)."""
    ref = _ranks(reference)
    total = 0.0
    count = 0.0
    votes = [1.0] * len(rankings) if weights is None else weights
    for ranking, vote in zip(rankings, votes, strict=True):
        rk = _ranks(ranking)
        present = [r for r in rk if r in ref]
        for index, a in enumerate(present):
            for b in present[index + 1 :]:
                mine = _sign(rk[a] - rk[b])
                theirs = _sign(ref[a] - ref[b])
                count += vote
                if mine == theirs:
                    total += vote
                elif mine == 0 or theirs == 0:
                    total += 0.5 * vote
    return total / count if count else 1.0


def pair_agreement(ranking: Ranking, pair: Pair) -> float | None:
    """How far ``ranking`` agrees with ``pair`` (chosen above rejected, or tied when its
    distance is 0), scored as ``agreement`` scores two responses; None when the ranking
    does not hold both."""
    rk = _ranks(ranking)
    if pair.chosen not in rk or pair.rejected not in rk:
        return None
    mine = _sign(rk[pair.chosen] - rk[pair.rejected])
    theirs = -1 if pair.rank_distance else 0
    if mine == theirs:
        return 1.0
    return 0.5 if mine == 0 or theirs == 0 else 0.0


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _pos(position: Mapping[int, int] | None, response: int) -> tuple[int, int]:
    return (position.get(response, response) if position else response, response)
