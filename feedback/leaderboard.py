"""A project's model leaderboard from blind human votes: Bradley-Terry strengths.

Every current judgement (human or imported, not flagged) implies pairwise comparisons
between the responses it ranked: a response above another is a win, two in one group a
tie (half a win each way). Responses are grouped by who wrote them: ``model_name`` (the
registry's label for generated candidates, the named model for imported ones), else their
source (``imported``, ``human``) as rows of their own. Comparisons between two responses of
the same model say nothing about the ranking of models and are left out.

The fit follows FastChat's ``elo_analysis.py`` (``compute_mle_elo``, and
``fit_mle_elo_with_style`` for style control): a logistic model of
``P(a beats b) = sigmoid(theta_a - theta_b [+ gamma * z])`` fitted by maximum likelihood
(scipy's L-BFGS on the exact log-likelihood and its gradient; ties enter as outcome 1/2,
which is FastChat's "a tie is half a win each way"), reported on the Elo scale
(``1000 + 400 * theta / ln 10``, centred on 1000). A very weak Gaussian prior on theta
(``PRIOR``, far below the data's weight) keeps the estimate finite when one model beat
another every time, where the pure MLE runs off to infinity (sklearn's logistic regression
in FastChat stops at its iteration cap there instead). 95% intervals are the 2.5th and
97.5th percentiles over ``rounds`` bootstrap resamples of the comparisons (multinomial
weights, one fit each).

With ``control="length"`` the normalised length difference of the two responses,
``(len_a - len_b) / (len_a + len_b)`` in words, scaled to unit root-mean-square, is a
covariate with a coefficient of its own (the style control of Chatbot Arena): the models'
strengths are then what remains once a preference for longer answers is accounted for.
"""

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

SCALE = 400.0
CACHE_SECONDS = 24 * 3600  # a fit per judgement state; a new state gives a new key
INIT = 1000.0
PRIOR = 1e-4  # Gaussian prior precision on theta, per comparison-weight unit (see above)
BOOTSTRAP_ROUNDS = 100
CONTROLS = ("none", "length")

if TYPE_CHECKING:
    from feedback.models import Project


@dataclass(frozen=True)
class Comparison:
    """One implied comparison: ``winner`` over ``loser`` (``tie``: neither), with the two
    responses' lengths (words) for style control."""

    a: str
    b: str
    outcome: float  # 1.0 a won, 0.0 b won, 0.5 tie
    length_a: int = 0
    length_b: int = 0


@dataclass(frozen=True)
class Standing:
    model: str
    score: float
    ci: tuple[float, float]
    comparisons: int
    win_rate: float

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "score": round(self.score, 2),
            "ci": [round(self.ci[0], 2), round(self.ci[1], 2)],
            "comparisons": self.comparisons,
            "win_rate": round(self.win_rate, 4),
        }


@dataclass(frozen=True)
class Leaderboard:
    standings: list[Standing]
    control: str
    comparisons: int
    rounds: int
    seconds: float
    length_coefficient: float | None = None  # on the Elo scale, per standard deviation


def comparisons_from_ranking(
    ranking: Sequence[Sequence[int]],
    model_of: dict[int, str],
    length_of: dict[int, int],
) -> list[Comparison]:
    """The comparisons one ranking implies (groups best first; a group is a tie)."""
    groups = [[r for r in g if r in model_of] for g in ranking]
    groups = [g for g in groups if g]
    out: list[Comparison] = []

    def add(x: int, y: int, outcome: float) -> None:
        if model_of[x] != model_of[y]:
            out.append(
                Comparison(
                    model_of[x], model_of[y], outcome, length_of.get(x, 0), length_of.get(y, 0)
                )
            )

    for i, upper in enumerate(groups):
        for n, x in enumerate(upper):
            for y in upper[n + 1 :]:
                add(x, y, 0.5)
        for lower in groups[i + 1 :]:
            for x in upper:
                for y in lower:
                    add(x, y, 1.0)
    return out


def _fit(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    z: np.ndarray | None,
    n_models: int,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, float | None]:
    """theta (centred, natural-log scale) and the covariate's coefficient, by maximum
    likelihood under the weak prior."""
    total = float(w.sum())
    prior = PRIOR * max(total, 1.0)
    extra = 1 if z is not None else 0

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta = params[:n_models]
        logit = theta[a] - theta[b]
        if z is not None:
            logit = logit + params[n_models] * z
        nll = -float(np.sum(w * (y * log_expit(logit) + (1.0 - y) * log_expit(-logit))))
        nll += 0.5 * prior * float(theta @ theta)
        residual = w * (expit(logit) - y)
        grad = np.zeros_like(params)
        grad[:n_models] = np.bincount(a, residual, n_models) - np.bincount(b, residual, n_models)
        grad[:n_models] += prior * theta
        if z is not None:
            grad[n_models] = float(residual @ z)
        return nll / total, grad / total

    if start is None:
        start = np.zeros(n_models + extra)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = result.x[:n_models]
    theta = theta - theta.mean()
    return theta, (float(result.x[n_models]) if z is not None else None)


def _start(theta: np.ndarray, gamma: float | None) -> np.ndarray:
    """The full-data estimate, where every bootstrap fit starts (fewer iterations)."""
    return theta if gamma is None else np.append(theta, gamma)


def _elo(theta: np.ndarray) -> np.ndarray:
    return INIT + SCALE * theta / math.log(10.0)


def leaderboard_fit(
    comparisons: Iterable[Comparison],
    *,
    control: str = "none",
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> Leaderboard:
    """Bradley-Terry scores with bootstrap 95% intervals, best first."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {CONTROLS}, not {control!r}")
    started = time.perf_counter()
    rows = list(comparisons)
    models = sorted({c.a for c in rows} | {c.b for c in rows})
    if not rows:
        return Leaderboard([], control, 0, rounds, 0.0)
    index = {m: n for n, m in enumerate(models)}
    played: Counter[str] = Counter()
    won: defaultdict[str, float] = defaultdict(float)
    for c in rows:
        played[c.a] += 1
        played[c.b] += 1
        won[c.a] += c.outcome
        won[c.b] += 1.0 - c.outcome

    if control == "length":
        # One row per comparison: each has its own covariate.
        a = np.fromiter((index[c.a] for c in rows), dtype=np.int64, count=len(rows))
        b = np.fromiter((index[c.b] for c in rows), dtype=np.int64, count=len(rows))
        y = np.fromiter((c.outcome for c in rows), dtype=float, count=len(rows))
        la = np.fromiter((c.length_a for c in rows), dtype=float, count=len(rows))
        lb = np.fromiter((c.length_b for c in rows), dtype=float, count=len(rows))
        z = np.where(la + lb > 0, (la - lb) / np.maximum(la + lb, 1.0), 0.0)
        # Scaled to unit root-mean-square, not centred: a difference of 0 stays 0, so the
        # covariate stays antisymmetric in (a, b) (FastChat also subtracts the mean).
        spread = float(np.sqrt(np.mean(z * z)))
        z = z / spread if spread > 0 else np.zeros_like(z)
        w = np.ones(len(rows))
    else:
        # The same (a, b, outcome) counted once with its weight: the fit's cost no longer
        # grows with the number of votes.
        grouped = Counter((index[c.a], index[c.b], c.outcome) for c in rows)
        keys = list(grouped)
        a = np.array([k[0] for k in keys], dtype=np.int64)
        b = np.array([k[1] for k in keys], dtype=np.int64)
        y = np.array([k[2] for k in keys], dtype=float)
        w = np.array([grouped[k] for k in keys], dtype=float)
        z = None

    theta, gamma = _fit(a, b, y, w, z, len(models))
    scores = _elo(theta)
    rng = np.random.default_rng(seed)
    samples = np.empty((rounds, len(models)))
    total = int(w.sum())
    for r in range(rounds):
        weights = rng.multinomial(total, w / w.sum()).astype(float)
        keep = weights > 0
        boot, _ = _fit(
            a[keep],
            b[keep],
            y[keep],
            weights[keep],
            None if z is None else z[keep],
            len(models),
            start=_start(theta, gamma),
        )
        samples[r] = _elo(boot)
    low = np.percentile(samples, 2.5, axis=0) if rounds else scores
    high = np.percentile(samples, 97.5, axis=0) if rounds else scores
    standings = [
        Standing(
            model=m,
            score=float(scores[n]),
            ci=(float(min(low[n], scores[n])), float(max(high[n], scores[n]))),
            comparisons=played[m],
            win_rate=won[m] / played[m] if played[m] else 0.0,
        )
        for n, m in enumerate(models)
    ]
    standings.sort(key=lambda s: (-s.score, s.model))
    return Leaderboard(
        standings=standings,
        control=control,
        comparisons=len(rows),
        rounds=rounds,
        seconds=time.perf_counter() - started,
        length_coefficient=None if gamma is None else SCALE * gamma / math.log(10.0),
    )


def project_comparisons(*, project: "Project") -> list[Comparison]:
    """Every comparison the project's current, rankable judgements imply."""
    # Django is imported here, not at the top: the fit runs without a database
    from django.db.models import F, Value
    from django.db.models.functions import Length, Replace

    from feedback.models import Response
    from feedback.selectors import project_rankable_judgements

    # Words: spaces + 1 (cheap, in the database, without reading the texts out).
    words = Length(F("content")) - Length(Replace(F("content"), Value(" "), Value(""))) + 1
    model_of: dict[int, str] = {}
    length_of: dict[int, int] = {}
    for pk, source, model_name, n_words in (
        Response.objects.filter(item__project=project)
        .annotate(words=words)
        .values_list("pk", "source", "model_name", "words")
        .iterator(chunk_size=5000)
    ):
        model_of[pk] = model_name or str(source)
        length_of[pk] = int(n_words or 0)
    out: list[Comparison] = []
    for ranking in (
        project_rankable_judgements(project=project)
        .values_list("ranking", flat=True)
        .iterator(chunk_size=5000)
    ):
        if isinstance(ranking, list):
            out.extend(comparisons_from_ranking(ranking, model_of, length_of))
    return out


def project_leaderboard(
    *, project: "Project", control: str = "none", rounds: int = BOOTSTRAP_ROUNDS
) -> Leaderboard:
    """The project's leaderboard (see the module's docstring)."""
    return leaderboard_fit(project_comparisons(project=project), control=control, rounds=rounds)


def project_leaderboard_cached(
    *, project: "Project", control: str = "none", rounds: int = BOOTSTRAP_ROUNDS
) -> tuple[Leaderboard, bool]:
    """``project_leaderboard``, fitted once per state of the project's judgements
    (``feedback.selectors.project_judgement_state``: a judgement written, edited or
    rejected gives a new state) and kept in the shared cache; with whether it was cached.
    Responses are only compared once judged, so a new candidate changes nothing until a
    judgement (a new state) ranks it."""
    # Django is imported here, not at the top: bench/leaderboard.py fits without a database.
    from core.cache import cached_compute
    from feedback.selectors import project_judgement_state

    state = project_judgement_state(project=project)
    return cached_compute(
        f"leaderboard:{state}:{control}:{rounds}",
        lambda: project_leaderboard(project=project, control=control, rounds=rounds),
        timeout=CACHE_SECONDS,
    )
