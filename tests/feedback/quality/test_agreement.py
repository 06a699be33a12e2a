"""Agreement on planted data, through the native import's ``judgements`` field and the
agreement endpoint."""

import io
import random
from typing import Any

import numpy as np
import orjson
import pytest
from scipy.stats import kendalltau

from core.errors import ValidationError
from feedback.models import Item, Judgement, Membership, Project
from feedback.quality.agreement import project_agreement
from feedback.quality.metrics import fleiss_kappa, ordinal_alpha, tau_b, unit_coincidences
from feedback.services.imports import items_import
from tests.factories import project_make, user_make
from tests.feedback.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _import(project: Project, rows: list[dict[str, Any]], **kwargs: Any) -> Any:
    data = b"\n".join(orjson.dumps(row) for row in rows)
    return items_import(project=project, source=io.BytesIO(data), format="native", **kwargs)


def _row(n: int, rankings: dict[str, list[list[int]]], responses: int = 4) -> dict[str, Any]:
    return {
        "external_id": f"q{n}",
        "prompt": f"Question {n}?",
        "responses": [f"answer {r} to {n}" for r in range(responses)],
        "judgements": [{"annotator": a, "ranking": r} for a, r in rankings.items()],
    }


def _random_ranking(rng: random.Random, responses: int = 4) -> list[list[int]]:
    order = list(range(responses))
    rng.shuffle(order)
    groups: list[list[int]] = []
    for r in order:
        if groups and rng.random() < 0.25:
            groups[-1].append(r)  # a tie
        else:
            groups.append([r])
    return groups


def test_imported_judgements_are_by_one_user_per_named_annotator() -> None:
    project = project_make(slug="multi", ask_ratings=True)
    row = _row(0, {"ann1": [[0], [1, 2], [3]], "ann2": [[3], [2], [1], [0]]})
    row["judgements"][0]["ratings"] = [5, 3, 3, 1]
    row["judgements"][0]["rationale"] = "the first is right"
    result = _import(project, [row], source_name="lab")
    assert result.judgements_created == 2
    item = Item.objects.get(project=project)
    ids = list(item.responses.order_by("position").values_list("pk", flat=True))
    by = {j.annotator.username: j for j in Judgement.objects.filter(item=item)}
    assert set(by) == {"import:lab/ann1", "import:lab/ann2"}
    assert by["import:lab/ann1"].ranking == [[ids[0]], [ids[1], ids[2]], [ids[3]]]
    assert by["import:lab/ann1"].ratings == {
        str(ids[0]): 5,
        str(ids[1]): 3,
        str(ids[2]): 3,
        str(ids[3]): 1,
    }
    assert by["import:lab/ann1"].rationale == "the first is right"
    assert not by["import:lab/ann2"].annotator.is_active


@pytest.mark.parametrize(
    ("judgements", "field"),
    [
        ("nope", "judgements"),
        ([{"ranking": [[0], [1]]}], "judgements[0].annotator"),
        ([{"annotator": "a", "ranking": [[0]]}], "judgements[0].ranking"),
        ([{"annotator": "a", "verdict": "C"}], "judgements[0].verdict"),
        ([{"annotator": "a", "ranking": [[0], [1]], "verdict": "A"}], "judgements[0]"),
        (
            [{"annotator": "a", "ranking": [[0], [1]]}, {"annotator": "a", "verdict": "B"}],
            "judgements[1].annotator",
        ),
        ([{"annotator": "a", "verdict": "both_bad"}], "judgements[0].verdict"),  # rank project
        ([{"annotator": "a", "ranking": [[0], [1]], "ratings": [9, 1]}], "judgements[0].ratings"),
    ],
)
def test_a_bad_judgement_refuses_the_whole_file_naming_row_and_field(
    judgements: Any, field: str
) -> None:
    project = project_make(slug="bad")
    good = _row(0, {"x": [[0], [1]]}, responses=2)
    bad = {**_row(1, {}, responses=2), "judgements": judgements}
    with pytest.raises(ValidationError) as refused:
        _import(project, [good, bad])
    errors = refused.value.details["errors"]
    assert errors[0]["row"] == 2 and errors[0]["field"] == field, errors
    assert not Item.objects.filter(project=project).exists()


def test_identical_rankings_give_alpha_one() -> None:
    project = project_make(slug="same")
    rng = random.Random(1)
    rows = []
    for n in range(30):
        ranking = _random_ranking(rng)
        rows.append(_row(n, {"a": ranking, "b": ranking, "c": ranking}))
    _import(project, rows)
    report = project_agreement(project=project, samples=200)
    assert report.alpha.value == pytest.approx(1.0)
    assert report.items == 30
    assert all(p.tau_b == pytest.approx(1.0) for p in report.pairs)
    assert len(report.pairs) == 3


def test_independent_random_rankings_give_alpha_near_zero_within_its_interval() -> None:
    project = project_make(slug="random")
    rng = random.Random(7)
    rows = [_row(n, {name: _random_ranking(rng) for name in ("a", "b", "c")}) for n in range(400)]
    _import(project, rows)
    report = project_agreement(project=project, samples=500)
    alpha = report.alpha
    assert alpha.value is not None and alpha.low is not None and alpha.high is not None
    assert abs(alpha.value) < 0.1
    assert alpha.low < 0 < alpha.high or abs(alpha.value) < 0.02
    assert alpha.low <= alpha.value <= alpha.high


def test_ties_share_a_rank_and_only_the_same_responses_are_compared() -> None:
    project = project_make(slug="ties")
    # Both tie 1 and 2; they agree fully, so alpha is 1 even with ties.
    rows = [_row(n, {"a": [[0], [1, 2], [3]], "b": [[0], [1, 2], [3]]}) for n in range(5)]
    rows += [_row(5, {"a": [[3], [2], [1], [0]], "b": [[3], [1, 2], [0]]})]
    _import(project, rows)
    report = project_agreement(project=project, samples=0)
    assert report.alpha.value is not None and 0.8 < report.alpha.value < 1.0
    assert report.pairs[0].items == 6


def test_vectorised_alpha_equals_the_krippendorff_package() -> None:
    import krippendorff

    rng = np.random.default_rng(3)
    counts = rng.integers(0, 3, size=(300, 4))
    ours = ordinal_alpha(counts, np.arange(300) // 3, 100, samples=0).interval.value
    theirs = krippendorff.alpha(
        value_counts=counts, value_domain=[1, 2, 3, 4], level_of_measurement="ordinal"
    )
    assert ours == pytest.approx(theirs)
    # And the bootstrap's own formula gives the same value on the full sample.
    from feedback.quality.metrics import _alpha_from_coincidences

    o = unit_coincidences(counts).sum(axis=0)
    assert float(_alpha_from_coincidences(o[None])[0]) == pytest.approx(theirs)


def test_tau_b_equals_scipys_with_ties() -> None:
    rng = random.Random(5)
    for _ in range(50):
        a, b = _random_ranking(rng, 5), _random_ranking(rng, 5)
        ra = {r: i for i, g in enumerate(a) for r in g}
        rb = {r: i for i, g in enumerate(b) for r in g}
        expected = kendalltau([ra[r] for r in range(5)], [rb[r] for r in range(5)]).statistic
        ours = tau_b(a, b)
        if ours is None:
            assert np.isnan(expected)
        else:
            assert ours == pytest.approx(expected)


def test_pairwise_fleiss_kappa_matches_a_hand_computation() -> None:
    project = project_make(slug="pairs", mode=Project.Mode.PAIRWISE)
    verdicts = [
        ("A", "A", "A"),
        ("A", "A", "B"),
        ("B", "B", "B"),
        ("A", "B", "tie"),
        ("tie", "tie", "both_bad"),
    ]
    rows = [
        {
            "external_id": f"p{n}",
            "prompt": f"Which {n}?",
            "responses": ["left", "right"],
            "judgements": [{"annotator": a, "verdict": v} for a, v in zip("xyz", vs, strict=True)],
        }
        for n, vs in enumerate(verdicts)
    ]
    _import(project, rows)
    report = project_agreement(project=project, samples=200)
    # By hand: per item P_i = (sum n_ij^2 - 3) / 6: 1, 1/3, 1, 0, 1/3 -> P = 8/15.
    # Category shares over 15 verdicts: A 6, B 5, tie 3, both_bad 1 -> P_e = 71/225.
    p_bar, p_e = 8 / 15, (36 + 25 + 9 + 1) / 225
    assert report.kappa is not None
    assert report.kappa.value == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert report.agreement_rate == pytest.approx(p_bar)
    low, value = report.kappa.low, report.kappa.value
    assert low is not None and value is not None and low <= value


def test_fleiss_kappa_of_a_textbook_table() -> None:
    counts = np.array([[3, 0, 0, 0], [2, 1, 0, 0], [0, 3, 0, 0], [1, 1, 1, 0]])
    kappa, rate = fleiss_kappa(counts, np.arange(4), samples=0)
    p_e = 0.5**2 + (5 / 12) ** 2 + (1 / 12) ** 2
    assert kappa.value == pytest.approx((7 / 12 - p_e) / (1 - p_e))
    assert rate == pytest.approx(7 / 12)


def test_agreement_endpoint_answers_admins_the_documented_shape() -> None:
    project = project_make(slug="api-agree")
    admin = user_make("boss", project=project, role=Membership.Role.ADMIN)
    annotator = user_make("worker", project=project)
    rng = random.Random(2)
    rows = []
    for n in range(20):
        ranking = _random_ranking(rng)
        rows.append(_row(n, {"a": ranking, "b": ranking, "c": _random_ranking(rng)}))
    _import(project, rows, source_name="lab")
    answer = client_for(admin).get("/api/projects/api-agree/agreement/?samples=100")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"alpha", "alpha_ci", "items", "annotators", "pairs"}
    assert body["items"] == 20 and 0 < body["alpha"] < 1
    assert body["alpha_ci"][0] <= body["alpha"] <= body["alpha_ci"][1]
    names = [a["username"] for a in body["annotators"]]
    assert names == ["import:lab/a", "import:lab/b", "import:lab/c"]
    first = body["annotators"][0]
    assert set(first) >= {"username", "items", "tau_b_mean", "gold_accuracy", "reliability"}
    ab = next(p for p in body["pairs"] if p["a"] == "import:lab/a" and p["b"] == "import:lab/b")
    assert ab["tau_b"] == pytest.approx(1.0) and ab["items"] == 20
    # Annotators are not admins: 403; outsiders: 404.
    assert client_for(annotator).get("/api/projects/api-agree/agreement/").status_code == 403
    outsider = user_make("nobody")
    assert client_for(outsider).get("/api/projects/api-agree/agreement/").status_code == 404
    bad = client_for(admin).get("/api/projects/api-agree/agreement/?samples=x")
    assert bad.status_code == 400 and "samples" in bad.json()["error"]["details"]


def test_too_few_overlapping_judgements_give_null_with_a_reason() -> None:
    project = project_make(slug="lonely")
    admin = user_make("boss2", project=project, role=Membership.Role.ADMIN)
    _import(project, [_row(0, {"a": [[0], [1], [2], [3]]})])
    body = client_for(admin).get("/api/projects/lonely/agreement/").json()
    assert body["alpha"] is None and body["alpha_ci"] is None
    assert body["reasons"]["alpha"]


def test_the_careless_annotator_scores_the_lowest_reliability() -> None:
    project = project_make(slug="careless")
    rng = random.Random(11)
    rows = []
    for n in range(150):
        truth = [[0], [1], [2], [3]]
        rng.shuffle(truth)
        careful = [g[:] for g in truth]
        other = [g[:] for g in truth]
        if rng.random() < 0.15:  # a careful annotator's occasional slip
            other[0], other[1] = other[1], other[0]
        rows.append(
            _row(n, {"careful1": careful, "careful2": other, "random": _random_ranking(rng)})
        )
    _import(project, rows, source_name="sim")
    report = project_agreement(project=project, samples=0)
    reliability = {a.username: a.reliability for a in report.annotators}
    assert reliability["import:sim/random"] is not None
    assert reliability["import:sim/random"] < min(
        reliability["import:sim/careful1"] or 0, reliability["import:sim/careful2"] or 0
    )


def test_a_gold_import_keeps_the_preference_as_the_expected_answer(tmp_path: Any) -> None:
    from django.core.management import call_command

    project = project_make(slug="gold-file")
    path = tmp_path / "gold.jsonl"
    rows = [
        {"external_id": "g1", "prompt": "2+2?", "responses": ["4", "5"], "ranking": [[0], [1]]},
        {"external_id": "g2", "prompt": "Sky?", "responses": ["red", "blue"], "gold": [[1], [0]]},
    ]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    call_command("import_items", str(path), project="gold-file", format="native", gold=True)
    project.refresh_from_db()
    assert project.gold_items == 2
    g1 = Item.objects.get(project=project, external_id="g1")
    ids = list(g1.responses.order_by("position").values_list("pk", flat=True))
    assert g1.is_gold and g1.gold_ranking == [[ids[0]], [ids[1]]]
    assert not Judgement.objects.filter(item__project=project).exists()
