import pytest

from core.errors import ValidationError
from feedback.services.judgements import ranking_validate


def test_ranking_with_a_tie_is_accepted_and_normalised() -> None:
    assert ranking_validate(ranking=[(3,), [1, 2]], response_ids={1, 2, 3}) == [[3], [1, 2]]


@pytest.mark.parametrize(
    ("ranking", "reason"),
    [
        ("1,2", "must be a list"),
        ([], "at least one group"),
        ([[1], []], "group 1 is empty"),
        ([[1], [2, 2]], "ranked more than once"),
        ([[1], [9]], "does not belong"),
        ([[1]], "[2] are not ranked"),
        ([[1, True]], "not a response id"),
        ([["1"], [2]], "not a response id"),
    ],
)
def test_bad_ranking_is_refused_with_the_reason(ranking: object, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ranking_validate(ranking=ranking, response_ids={1, 2})
    assert reason in caught.value.message
    assert caught.value.details is not None and "ranking" in caught.value.details
