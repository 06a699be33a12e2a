"""Agreement statistics on rankings with ties. Pure numpy, no ORM.

- **Krippendorff's alpha**, ordinal, from the ``krippendorff`` package: a *unit* is one
  response within the set of responses a judgement ranked (an item, or a round of it),
  its *value* the response's rank in that judgement (1 = best group; tied responses share
  a rank). Only judgements that ranked the same set of responses are compared.
- A **bootstrap 95% interval** over items (percentile, ``BOOTSTRAP_SAMPLES`` resamples of
  the items with replacement, a fixed seed so the same data gives the same interval). Each
  resample's alpha is computed from the per-item coincidence matrices with Krippendorff's
  formulas (vectorised; a test checks it equals the package on the full sample).
- **Kendall's tau-b** between two rankings of the same responses: (concordant -
  discordant) / sqrt((pairs not tied in a) (pairs not tied in b)), the definition
  ``scipy.stats.kendalltau(variant="b")`` uses (a test checks they agree); None where one
  side ties everything.
- **Fleiss' kappa** over categorical verdicts (pairwise: A, B, tie, both bad), in the
  form that allows a varying number of raters per unit (Fleiss 1971 when it is constant),
  with the same item bootstrap.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
import numpy.typing as npt

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 20_240_531
_CHUNK = 50  # bootstrap resamples computed at once

Ranking = Sequence[Sequence[int]]
FloatArray = npt.NDArray[np.float64]


def rank_of(ranking: Ranking) -> dict[int, int]:
    """Each response's rank: 1 for the best group, 2 for the next, ...; a tie shares one."""
    return {rid: index + 1 for index, group in enumerate(ranking) for rid in group}


def pair_signs(ranking: Ranking, responses: Sequence[int]) -> list[int]:
    """For every two of ``responses`` (in the given order), +1 if the first is ranked above
    the second, -1 if below, 0 if tied."""
    rank = rank_of(ranking)
    signs = []
    for i in range(len(responses)):
        ri = rank[responses[i]]
        for j in range(i + 1, len(responses)):
            rj = rank[responses[j]]
            signs.append((ri < rj) - (ri > rj))
    return signs


def tau_b_signs(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Kendall's tau-b from two rankings' pair signs over the same pairs."""
    concordance = sum(x * y for x, y in zip(a, b, strict=True))
    untied_a = sum(x * x for x in a)
    untied_b = sum(y * y for y in b)
    if not untied_a or not untied_b:
        return None
    return concordance / math.sqrt(untied_a * untied_b)


def tau_b(a: Ranking, b: Ranking) -> float | None:
    """Kendall's tau-b between two rankings over the responses both rank."""
    in_b = set(rank_of(b))
    common = sorted(r for r in rank_of(a) if r in in_b)
    if len(common) < 2:
        return None
    return tau_b_signs(pair_signs(a, common), pair_signs(b, common))


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    reason: str = ""  # why ``value`` is None


def _nothing(reason: str) -> Interval:
    return Interval(None, None, None, reason)


def _ordinal_distances(n_v: FloatArray) -> FloatArray:
    """Krippendorff's ordinal distance for every two values, for each row of ``n_v``
    (shape (B, V) -> (B, V, V)): (sum of n_g from c to k - (n_c + n_k) / 2) ** 2."""
    cum = np.cumsum(n_v, axis=-1)
    before = cum - n_v
    v = n_v.shape[-1]
    low = np.minimum(np.arange(v)[:, None], np.arange(v)[None, :])
    high = np.maximum(np.arange(v)[:, None], np.arange(v)[None, :])
    between = cum[..., high] - before[..., low]
    return np.asarray((between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2)


def _alpha_from_coincidences(o: FloatArray) -> FloatArray:
    """Ordinal alpha for each coincidence matrix in ``o`` (shape (B, V, V))."""
    n_v = o.sum(axis=-1)
    n = n_v.sum(axis=-1)
    d = _ordinal_distances(n_v)
    observed = (o * d).sum(axis=(-2, -1))
    expected_raw = np.einsum("bi,bj,bij->b", n_v, n_v, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(1.0 - (n - 1) * observed / expected_raw)


def unit_coincidences(value_counts: npt.NDArray[np.int64]) -> FloatArray:
    """Each unit's contribution to the coincidence matrix (shape (U, V, V)): pairable
    units (two values or more) only, as in Krippendorff's definition."""
    counts = value_counts.astype(np.float64)
    m = counts.sum(axis=1)
    outer = counts[:, :, None] * counts[:, None, :]
    v = counts.shape[1]
    outer[:, np.arange(v), np.arange(v)] -= counts
    with np.errstate(divide="ignore", invalid="ignore"):
        contributions = outer / (m - 1)[:, None, None]
    contributions[m < 2] = 0.0
    return np.asarray(contributions)


def _resample_weights(rng: np.random.Generator, size: int, n: int) -> FloatArray:
    """``size`` bootstrap resamples of ``n`` things: how often each is drawn (shape (size, n))."""
    picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


@dataclass(frozen=True)
class AlphaResult:
    interval: Interval
    # Per item (in the order of the item index given): the item's units' disagreement
    # against the project's expected disagreement, 1 - D_o(item) / D_e; None unpairable.
    item_alpha: list[float | None]


def ordinal_alpha(
    value_counts: npt.NDArray[np.int64],
    unit_items: npt.NDArray[np.int64],
    n_items: int,
    *,
    samples: int = BOOTSTRAP_SAMPLES,
) -> AlphaResult:
    """Krippendorff's ordinal alpha of units x ranks counts, with a bootstrap interval over
    items (``unit_items`` maps each unit to its item, 0..n_items-1)."""
    pairable = value_counts.sum(axis=1) >= 2
    if not pairable.any():
        return AlphaResult(
            _nothing("no response was ranked by two annotators in the same set"),
            [None] * n_items,
        )
    value_counts, unit_items = value_counts[pairable], unit_items[pairable]
    if np.count_nonzero(value_counts.sum(axis=0)) < 2:
        return AlphaResult(
            _nothing("every response got the same rank: alpha is undefined"), [None] * n_items
        )
    domain = np.arange(1, value_counts.shape[1] + 1)
    value = float(
        krippendorff.alpha(
            value_counts=value_counts, value_domain=domain, level_of_measurement="ordinal"
        )
    )
    contributions = unit_coincidences(value_counts)
    v = contributions.shape[1]
    flat = contributions.reshape(len(contributions), v * v)
    per_item = np.stack(
        [np.bincount(unit_items, weights=flat[:, k], minlength=n_items) for k in range(v * v)],
        axis=1,
    )

    # Per item: 1 - D_o(item) / D_e(project), distances from the whole project.
    o_all = per_item.sum(axis=0).reshape(v, v)
    n_v = o_all.sum(axis=1)
    n = n_v.sum()
    d = _ordinal_distances(n_v[None, :])[0]
    expected = float(np.einsum("i,j,ij->", n_v, n_v, d)) / (n * (n - 1))
    item_values = per_item.reshape(n_items, v, v)
    item_n = item_values.sum(axis=(1, 2))
    item_observed = (item_values * d).sum(axis=(1, 2))
    item_alpha: list[float | None] = [
        (1.0 - float(obs / m) / expected) if m > 0 and expected > 0 else None
        for obs, m in zip(item_observed, item_n, strict=True)
    ]

    judged_items = np.flatnonzero(item_n > 0)
    low = high = None
    if len(judged_items) >= 2 and samples > 0:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        base = per_item[judged_items]
        estimates = []
        for start in range(0, samples, _CHUNK):
            size = min(_CHUNK, samples - start)
            weights = _resample_weights(rng, size, len(judged_items))
            o = (weights @ base).reshape(size, v, v)
            estimates.append(_alpha_from_coincidences(o))
        values = np.concatenate(estimates)
        values = values[np.isfinite(values)]
        if len(values):
            low, high = (float(x) for x in np.percentile(values, [2.5, 97.5]))
    return AlphaResult(Interval(value, low, high), item_alpha)


def fleiss_kappa(
    counts: npt.NDArray[np.int64],
    unit_items: npt.NDArray[np.int64],
    *,
    samples: int = BOOTSTRAP_SAMPLES,
) -> tuple[Interval, float | None]:
    """Fleiss' kappa of units x categories counts (raters per unit may vary), with a
    bootstrap interval over items, and the observed agreement rate (the mean share of
    agreeing rater pairs per unit)."""
    counts = counts.astype(np.float64)
    n = counts.sum(axis=1)
    keep = n >= 2
    if not keep.any():
        return _nothing("no pair of responses was judged by two annotators"), None
    counts, n, unit_items = counts[keep], n[keep], unit_items[keep]
    p_unit = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    rate = float(p_unit.mean())

    def kappa(weights: FloatArray) -> FloatArray:
        # weights: (B, U) times each unit is drawn
        p_bar = (weights @ p_unit) / weights.sum(axis=1)
        p_j = (weights @ counts) / (weights @ n)[:, None]
        p_e = (p_j**2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((p_bar - p_e) / (1 - p_e))

    value = float(kappa(np.ones((1, len(n))))[0])
    if not math.isfinite(value):
        return _nothing("every verdict is the same: kappa is undefined"), rate
    items, unit_to_item = np.unique(unit_items, return_inverse=True)
    low = high = None
    if len(items) >= 2 and samples > 0:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        estimates = []
        for start in range(0, samples, _CHUNK):
            size = min(_CHUNK, samples - start)
            item_weights = _resample_weights(rng, size, len(items))
            estimates.append(kappa(item_weights[:, unit_to_item]))
        values = np.concatenate(estimates)
        values = values[np.isfinite(values)]
        if len(values):
            low, high = (float(x) for x in np.percentile(values, [2.5, 97.5]))
    return Interval(value, low, high), rate
