"""Export parameters: one typed value object, parsed from query strings or JSON bodies.

``ExportParams`` is the one definition: each field carries a ``ParamSpec`` (kind, help,
choices, bounds), and the parser, the OpenAPI schema of the export and of the snapshot API
(``feedback/api/export_schema.py``) and the job form all read ``PARAMS``, made from it.

``export_params_parse`` is the only way in; every bad value raises
``core.errors.ValidationError`` whose ``details`` name the field and the reason, so the API
answers 400 with ``{"error": {"details": {"<field>": ["<reason>"]}}}``.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, time
from typing import Any, Literal

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

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

Kind = Literal["choice", "number", "whole", "moment", "text", "flag"]


@dataclass(frozen=True)
class ParamSpec:
    """How one export parameter is read.

    ``choice``: one of ``choices``; ``number``/``whole``: a float/an int in ``[low, high]``;
    ``moment``: an ISO 8601 date or date-time; ``text``: at most ``max_length`` characters
    (``too_long`` is the reason otherwise); ``flag``: true or false. ``name`` and
    ``default`` (``None`` when unset) come from the ``ExportParams`` field it belongs to.
    """

    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    max_length: int = 0
    too_long: str = ""
    name: str = ""
    default: Any = None


@dataclass(frozen=True)
class ExportParams:
    """What to export and how: the one definition of the export's parameters, each field's
    ``ParamSpec`` in its metadata. See ``feedback/export/README.md`` for each field."""

    format: str = field(
        default="trl", metadata={"spec": ParamSpec("choice", "Row shape.", choices=FORMATS)}
    )
    pairs: str = field(
        default="all",
        metadata={"spec": ParamSpec("choice", "How a ranking becomes pairs.", choices=PAIR_MODES)},
    )
    ties: str = field(
        default="skip",
        metadata={
            "spec": ParamSpec(
                "choice",
                "Tied responses: no pair (skip) or a pair with margin 0.",
                choices=TIE_MODES,
            )
        },
    )
    margin: str | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "choice", "Add a margin column for RewardTrainer.", choices=MARGIN_MODES
            )
        },
    )
    aggregate: str = field(
        default="none",
        metadata={
            "spec": ParamSpec(
                "choice",
                "none: rows per judgement; consensus: per item (Copeland); weighted-consensus: "
                "Copeland with each judgement counted by its annotator's reliability.",
                choices=AGGREGATES,
            )
        },
    )
    weight: str | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "choice",
                "Add a weight column (TRL pair formats): the annotator's Dawid-Skene "
                "reliability, or a consensus pair's reliability-weighted support.",
                choices=WEIGHTS,
            )
        },
    )
    min_reliability: float | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "number",
                "0 to 1: leave out the judgements of annotators less reliable.",
                low=0.0,
                high=1.0,
            )
        },
    )
    min_agreement: float | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "number", "0 to 1: leave out items whose annotators agree less.", low=0.0, high=1.0
            )
        },
    )
    min_judgements: int | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "whole", "Leave out items with fewer rankable judgements.", low=1, high=1_000_000
            )
        },
    )
    since: datetime | None = field(
        default=None,
        metadata={"spec": ParamSpec("moment", "Judgements made at or after (ISO 8601).")},
    )
    until: datetime | None = field(
        default=None, metadata={"spec": ParamSpec("moment", "Judgements made before (ISO 8601).")}
    )
    annotator: str | None = field(
        default=None,
        metadata={
            "spec": ParamSpec(
                "text",
                "A user id or username.",
                max_length=150,
                too_long="must be a user id or a username of at most 150 characters",
            )
        },
    )
    source: str | None = field(
        default=None, metadata={"spec": ParamSpec("choice", "Judgement source.", choices=SOURCES)}
    )
    exclude_flagged: bool = field(
        default=False,
        metadata={"spec": ParamSpec("flag", "Leave out flagged and unrankable judgements.")},
    )
    split: str | None = field(
        default=None,
        metadata={
            "spec": ParamSpec("choice", "Stable split by a hash of the item.", choices=SPLITS)
        },
    )
    test_fraction: float = field(
        default=0.1,
        metadata={"spec": ParamSpec("number", "0 to 1, with split.", low=0.0, high=1.0)},
    )
    include_gold: bool = field(
        default=False,
        metadata={"spec": ParamSpec("flag", "Gold items' judgements too (left out by default).")},
    )

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


def _read(data: Mapping[str, object], spec: ParamSpec) -> Any:
    """One parameter's value as its spec reads it (``None`` when not given)."""
    name = spec.name
    if spec.kind == "choice":
        return _choice(data, name, spec.choices)
    if spec.kind == "number":
        return _float(data, name, spec.low, spec.high)
    if spec.kind == "whole":
        return _int(data, name, int(spec.low), int(spec.high))
    if spec.kind == "moment":
        return _datetime(data, name)
    if spec.kind == "flag":
        return _bool(data, name)
    text = _text(data, name) or None
    if text is not None and len(text) > spec.max_length:
        raise _fail(name, spec.too_long or f"must be at most {spec.max_length} characters")
    return text


# Every parameter, in the order of ``ExportParams``, with its name and default filled in.
PARAMS: tuple[ParamSpec, ...] = tuple(
    replace(f.metadata["spec"], name=f.name, default=f.default) for f in fields(ExportParams)
)
PARAMS_BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}
# Every parameter's default as it would appear in a query string.
PARAM_DEFAULTS: dict[str, str] = {
    spec.name: "" if spec.default is None else _format_value(spec.default) for spec in PARAMS
}
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
    values: dict[str, Any] = {}
    for spec in PARAMS:  # in the order of the fields, so the first bad one is named
        value = _read(data, spec)
        values[spec.name] = spec.default if value is None else value
    fmt, ties, margin = values["format"], values["ties"], values["margin"]
    since, until = values["since"], values["until"]
    if since and until and until <= since:
        raise _fail("until", "must be later than since")
    if values["split"] is None and _text(data, "test_fraction"):
        raise _fail("test_fraction", "only applies together with split=train or split=test")
    if fmt in ("kto", "hh-rlhf") and ties == "margin0":
        raise _fail("ties", f"the {fmt} format cannot express a tie (it has no margin)")
    if fmt not in PAIR_COLUMN_FORMATS and margin is not None:
        raise _fail("margin", f"the {fmt} format has no margin column")
    if fmt not in PAIR_COLUMN_FORMATS and values["weight"] is not None:
        raise _fail("weight", f"the {fmt} format has no weight column")
    if ties == "margin0" and margin is None:
        # A tie is only useful to a reward model as a pair with margin 0.
        values["margin"] = "rank-distance"
    return ExportParams(**values)
