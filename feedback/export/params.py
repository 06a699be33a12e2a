"""Export parameters: one typed value object, parsed from query strings or JSON bodies.

``export_params_parse`` is the only way in; every bad value raises
``core.errors.ValidationError`` whose ``details`` name the field and the reason, so the API
answers 400 with ``{"error": {"details": {"<field>": ["<reason>"]}}}``.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from core.errors import ValidationError
from core.inputs import moment_check

FORMATS = ("trl", "trl-conversational", "trl-implicit", "kto", "hh-rlhf", "rankings")
PAIR_MODES = ("all", "best-vs-rest", "best-vs-worst")
TIE_MODES = ("skip", "margin0")
MARGIN_MODES = ("rank-distance", "rating-difference", "reliability")
AGGREGATES = ("none", "consensus", "weighted-consensus")
WEIGHTS = ("reliability",)
# Formats with a per-pair margin / weight column (TRL's preference formats).
PAIR_COLUMN_FORMATS = ("trl", "trl-conversational", "trl-implicit")
SOURCES = ("human", "imported")
SPLITS = ("train", "test")

# Every parameter an export accepts, with its default as it would appear in a query string.
PARAM_DEFAULTS: dict[str, str] = {
    "format": "trl",
    "pairs": "all",
    "ties": "skip",
    "margin": "",
    "aggregate": "none",
    "weight": "",
    "min_reliability": "",
    "min_agreement": "",
    "min_judgements": "",
    "since": "",
    "until": "",
    "annotator": "",
    "source": "",
    "exclude_flagged": "false",
    "split": "",
    "test_fraction": "0.1",
    "include_gold": "false",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class ExportParams:
    """What to export and how. See ``feedback/export/README.md`` for each field."""

    format: str = "trl"
    pairs: str = "all"
    ties: str = "skip"
    margin: str | None = None
    aggregate: str = "none"
    weight: str | None = None
    min_reliability: float | None = None
    min_agreement: float | None = None
    min_judgements: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    annotator: str | None = None
    source: str | None = None
    exclude_flagged: bool = False
    split: str | None = None
    test_fraction: float = 0.1
    include_gold: bool = False  # gold items' judgements too (left out by default)

    @property
    def needs_item_stats(self) -> bool:
        """Whether an item's judgements must be seen together before any row is written."""
        return (
            self.aggregate != "none"
            or self.min_agreement is not None
            or self.min_judgements is not None
        )

    @property
    def needs_reliability(self) -> bool:
        """Whether the export reads the annotators' reliabilities (``weights.py``)."""
        return (
            self.weight is not None
            or self.margin == "reliability"
            or self.min_reliability is not None
            or self.aggregate == "weighted-consensus"
        )

    def as_dict(self) -> dict[str, str | None]:
        """Every parameter, defaults included, as strings (None where unset): what a
        snapshot records, so it can be reproduced even if a default changes."""
        return {
            key: None if value is None else _format_value(value)
            for key, value in asdict(self).items()
        }

    def as_query(self) -> dict[str, str]:
        """The parameters as a query-string mapping that parses back to an equal value
        (only fields that differ from the defaults)."""
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            text = _format_value(value)
            if text != PARAM_DEFAULTS[key]:
                out[key] = text
        return out


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _fail(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {reason}", details={field: [reason]})


def _text(data: Mapping[str, object], field: str) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        # A query string may repeat a key; the last value wins, as in Django's QueryDict.
        value = value[-1] if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise _fail(field, "must be a string or a number")
    text = str(value).strip()
    if "\x00" in text:
        raise _fail(field, "must not contain NUL characters")
    return text


def _choice(data: Mapping[str, object], field: str, choices: tuple[str, ...]) -> str | None:
    text = _text(data, field)
    if not text:
        return None
    if text not in choices:
        raise _fail(field, f"must be one of {', '.join(choices)} (got {text[:50]!r})")
    return text


def _float(data: Mapping[str, object], field: str, low: float, high: float) -> float | None:
    text = _text(data, field)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _fail(field, f"must be a number between {low} and {high}") from None
    if not low <= value <= high:  # also refuses nan
        raise _fail(field, f"must be a number between {low} and {high}")
    return value


def _int(data: Mapping[str, object], field: str, low: int, high: int) -> int | None:
    text = _text(data, field)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise _fail(field, f"must be a whole number between {low} and {high}") from None
    if not low <= value <= high:
        raise _fail(field, f"must be a whole number between {low} and {high}")
    return value


def _bool(data: Mapping[str, object], field: str) -> bool:
    text = _text(data, field).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _fail(field, "must be true or false")


def _datetime(data: Mapping[str, object], field: str) -> datetime | None:
    text = _text(data, field)
    if not text:
        return None
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment, day = None, None
    if moment is None and day is None:
        raise _fail(field, "must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z")
    if moment is None:
        assert isinstance(day, date)
        moment = datetime.combine(day, time.min)
    # Postgres stores UTC years 1-9999: "0001-01-01T00:00:00-23:59" is year 0 there.
    return moment_check(moment, field)


KNOWN_FIELDS = frozenset(PARAM_DEFAULTS)


def export_params_parse(
    data: Mapping[str, object], *, ignore: frozenset[str] = frozenset()
) -> ExportParams:
    """Parse and check export parameters (a query string or a JSON object).

    Unknown names are refused, except those in ``ignore`` (the API's own, such as the
    ``format`` suffix negotiation keys). Raises ``ValidationError`` naming the field.
    """
    unknown = sorted(k for k in data if k not in KNOWN_FIELDS and k not in ignore)
    if unknown:
        raise ValidationError(
            f"Unknown export parameter {unknown[0]!r}.",
            details={name[:100]: ["is not an export parameter"] for name in unknown[:20]},
        )
    fmt = _choice(data, "format", FORMATS) or "trl"
    pairs = _choice(data, "pairs", PAIR_MODES) or "all"
    ties = _choice(data, "ties", TIE_MODES) or "skip"
    margin = _choice(data, "margin", MARGIN_MODES)
    aggregate = _choice(data, "aggregate", AGGREGATES) or "none"
    weight = _choice(data, "weight", WEIGHTS)
    min_reliability = _float(data, "min_reliability", 0.0, 1.0)
    min_agreement = _float(data, "min_agreement", 0.0, 1.0)
    min_judgements = _int(data, "min_judgements", 1, 1_000_000)
    since = _datetime(data, "since")
    until = _datetime(data, "until")
    if since and until and until <= since:
        raise _fail("until", "must be later than since")
    annotator = _text(data, "annotator") or None
    if annotator is not None and len(annotator) > 150:
        raise _fail("annotator", "must be a user id or a username of at most 150 characters")
    source = _choice(data, "source", SOURCES)
    exclude_flagged = _bool(data, "exclude_flagged")
    split = _choice(data, "split", SPLITS)
    test_fraction = _float(data, "test_fraction", 0.0, 1.0)
    if test_fraction is None:
        test_fraction = 0.1
    include_gold = _bool(data, "include_gold")
    if split is None and _text(data, "test_fraction"):
        raise _fail("test_fraction", "only applies together with split=train or split=test")
    if fmt in ("kto", "hh-rlhf") and ties == "margin0":
        raise _fail("ties", f"the {fmt} format cannot express a tie (it has no margin)")
    if fmt not in PAIR_COLUMN_FORMATS and margin is not None:
        raise _fail("margin", f"the {fmt} format has no margin column")
    if fmt not in PAIR_COLUMN_FORMATS and weight is not None:
        raise _fail("weight", f"the {fmt} format has no weight column")
    if ties == "margin0" and margin is None:
        # A tie is only useful to a reward model as a pair with margin 0.
        margin = "rank-distance"
    return ExportParams(
        format=fmt,
        pairs=pairs,
        ties=ties,
        margin=margin,
        aggregate=aggregate,
        weight=weight,
        min_reliability=min_reliability,
        min_agreement=min_agreement,
        min_judgements=min_judgements,
        since=since,
        until=until,
        annotator=annotator,
        source=source,
        exclude_flagged=exclude_flagged,
        split=split,
        test_fraction=test_fraction,
        include_gold=include_gold,
    )
