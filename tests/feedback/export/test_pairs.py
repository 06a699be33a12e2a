from itertools import combinations, pairwise

from hypothesis import given
from hypothesis import strategies as st

from feedback.export.pairs import agreement, consensus_copeland, ranking_pairs


@st.composite
def rankings_with_ties(draw: st.DrawFn) -> list[list[int]]:
    """A ranking of 1-8 responses into groups, best first; groups of 2+ are ties."""
    ids = draw(st.permutations(list(range(1, draw(st.integers(1, 8)) + 1))))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(ids) - 1)), max_size=len(ids) - 1)))
    bounds = [0, *[c for c in cuts if c < len(ids)], len(ids)]
    return [list(ids[a:b]) for a, b in pairwise(bounds) if a < b]


def rank_of(ranking: list[list[int]]) -> dict[int, int]:
    return {r: i for i, g in enumerate(ranking) for r in g}


@given(rankings_with_ties())
def test_all_pairs_are_exactly_the_strict_preferences_of_the_ranking(
    ranking: list[list[int]],
) -> None:
    rank = rank_of(ranking)
    pairs = ranking_pairs(ranking, mode="all", ties="skip")

    assert {(p.chosen, p.rejected) for p in pairs} == {
        (a, b) for a in rank for b in rank if rank[a] < rank[b]
    }
    assert len(pairs) == len({(p.chosen, p.rejected) for p in pairs})
    assert all(p.rank_distance == rank[p.rejected] - rank[p.chosen] > 0 for p in pairs)


@given(rankings_with_ties())
def test_margin0_adds_one_zero_margin_pair_per_two_tied_responses(
    ranking: list[list[int]],
) -> None:
    strict = ranking_pairs(ranking, mode="all", ties="skip")
    with_ties = ranking_pairs(ranking, mode="all", ties="margin0")

    tied = [p for p in with_ties if p.rank_distance == 0]
    assert len(tied) == sum(len(g) * (len(g) - 1) // 2 for g in ranking)
    assert {frozenset((p.chosen, p.rejected)) for p in tied} == {
        frozenset(c) for g in ranking for c in combinations(g, 2)
    }
    assert [p for p in with_ties if p.rank_distance] == strict


@given(rankings_with_ties())
def test_best_vs_worst_within_best_vs_rest_within_all(ranking: list[list[int]]) -> None:
    def pairs(mode: str) -> set[tuple[int, int]]:
        return {(p.chosen, p.rejected) for p in ranking_pairs(ranking, mode=mode, ties="skip")}

    best_vs_rest = pairs("best-vs-rest")
    assert pairs("best-vs-worst") <= best_vs_rest <= pairs("all")
    assert {a for a, _ in best_vs_rest} <= set(ranking[0])
    if len(ranking) > 1:
        assert len(pairs("best-vs-worst")) == len(ranking[0]) * len(ranking[-1])


@given(rankings_with_ties(), st.integers(1, 5))
def test_consensus_of_identical_rankings_is_that_ranking_with_full_agreement(
    ranking: list[list[int]], copies: int
) -> None:
    result = consensus_copeland([ranking] * copies)

    assert [sorted(g) for g in result.ranking] == [sorted(g) for g in ranking]
    assert result.agreement == 1.0


@given(st.lists(rankings_with_ties(), min_size=1, max_size=5))
def test_agreement_lies_between_zero_and_one(rankings: list[list[list[int]]]) -> None:
    result = consensus_copeland(rankings)
    assert 0.0 <= result.agreement <= 1.0
    assert 0.0 <= agreement(rankings, rankings[0]) <= 1.0


def test_reversed_judgements_tie_in_the_consensus_and_half_agree() -> None:
    result = consensus_copeland([[[1], [2]], [[2], [1]]])
    assert result.ranking == [[1, 2]]
    assert result.agreement == 0.5
