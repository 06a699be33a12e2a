"""One check per kind of input, shared by every door (API, pages, imports, commands).

Whatever a client sends, these turn what the database, the JSON encoder or the ORM
cannot take into a ``core.errors.ValidationError`` naming the field, instead of a 500:

- **Text** (``text_problem``, ``text_check``): Postgres refuses the NUL character in
  ``text`` and ``jsonb`` and cannot encode a lone UTF-16 surrogate (``\\ud800``) as UTF-8.
  ``core.middleware.InputGuardMiddleware`` checks the path and query string of every
  request, ``core.parsers`` every JSON and form body, the import reader every row; a new
  field is therefore safe by default.
- **JSON** (``json_parse``): one parser for request bodies and import rows, with a depth
  limit (checked before decoding, so 100,000 nested brackets cost a scan, not a
  recursion), integers within 64 bits (what Postgres ``bigint`` and orjson take), no NaN
  or infinities (``jsonb`` has none), and the text check on every key and string.
- **Moments** (``moment_check``): an aware datetime, converted to UTC (Postgres refuses
  offsets past 15:59), within the years 1-9999 there.
- **Query parameters** (``param_text``, ``param_choice``, ``param_int``, ``param_bool``):
  list filters are validated against their choices and types, never passed raw.
"""

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.errors import ValidationError

MAX_JSON_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# A JSON string, or one bracket outside strings (for the depth scan).
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_JSON_TOKENS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = {ord("["), ord("{"), "[", "{"}
_CLOSE = {ord("]"), ord("}"), "]", "}"}


class InputError(ValueError):
    """Input that cannot be taken; ``path`` names where (``metadata.note``, ``items[2]``)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def as_validation_error(self, field: str = "body") -> ValidationError:
        where = self.path or field
        return ValidationError(f"{where}: {self.message}", details={where: [self.message]})


# --- text -------------------------------------------------------------------------------


def text_problem(text: str) -> str | None:
    """Why Postgres could not store ``text``, or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (\\u0000)"
    code = f"\\u{ord(found.group()):04x}"
    return f"must not contain a lone surrogate ({code}); text must be valid Unicode"


def text_check(text: str, field: str) -> str:
    """``text`` itself, or ``ValidationError`` naming ``field``."""
    problem = text_problem(text)
    if problem is not None:
        raise ValidationError(f"{field}: {problem}", details={field: [problem]})
    return text


def value_problem(value: Any, path: str = "") -> InputError | None:
    """The first string or key in a decoded JSON value that ``text_problem`` refuses."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, current = stack.pop()
        if isinstance(current, str):
            problem = text_problem(current)
            if problem:
                return InputError(problem, path=where)
        elif isinstance(current, Mapping):
            for key, child in current.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := text_problem(key)):
                    return InputError(f"key {problem}", path=where or "body")
                stack.append((name, child))
        elif isinstance(current, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(current))
        elif isinstance(current, int) and not isinstance(current, bool):
            if not INT_MIN <= current <= INT_MAX:
                return InputError("integers must fit in 64 bits", path=where)
        elif isinstance(current, float) and not math.isfinite(current):
            return InputError("numbers must be finite (NaN and Infinity are not JSON)", path=where)
        elif current is _HUGE:
            return InputError("integers must fit in 64 bits", path=where)
    return None


# --- JSON -------------------------------------------------------------------------------


def json_depth_exceeds(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth``."""
    tokens = _JSON_TOKENS_BYTES if isinstance(data, bytes) else _JSON_TOKENS
    depth = 0
    for match in tokens.finditer(data):  # type: ignore[arg-type]
        token = match.group()
        first = token[0]
        if first in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif first in _CLOSE:
            depth -= 1
    return False


class _Huge:
    """Stands for an integer too long to convert (the walk reports it with its path)."""


_HUGE = _Huge()


def _parse_int(text: str) -> int | _Huge:
    # Out-of-range values are found by the walk, which knows the path.
    return int(text) if len(text) <= 25 else _HUGE


def _parse_constant(name: str) -> float:
    return math.nan  # NaN and Infinity are not JSON: the walk refuses them with the path


def json_parse(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, path: str = "") -> Any:
    """Decode JSON text (UTF-8 bytes or str) by the rules above; ``InputError`` otherwise.

    ``path`` prefixes the location in errors (``items[3]``)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            raise InputError(reason, path=path) from None
    else:
        text = data
    if json_depth_exceeds(text, max_depth):
        raise InputError(f"nests deeper than {max_depth} levels", path=path)
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise InputError(f"is not valid JSON ({exc.msg}, column {exc.colno})", path=path) from None
    except RecursionError:  # pragma: no cover - the depth scan comes first
        raise InputError(f"nests deeper than {max_depth} levels", path=path) from None
    problem = value_problem(value, path)
    if problem is not None:
        raise problem
    return value


# --- moments ----------------------------------------------------------------------------


def moment_check(moment: datetime, field: str) -> datetime:
    """``moment`` converted to UTC (UTC when naive) if Postgres can store it, else 400.

    Converted, because Postgres takes offsets up to 15:59 only: ``-23:59`` is a valid ISO
    8601 offset that it refuses, while the same moment in UTC is fine."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        in_utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        in_utc = None
    if in_utc is None or not 1 <= in_utc.year <= 9999:
        reason = "must lie between the years 1 and 9999 once converted to UTC"
        raise ValidationError(f"{field}: {reason}", details={field: [reason]})
    return in_utc


# --- query parameters ---------------------------------------------------------------------


def _fail(name: str, reason: str) -> ValidationError:
    return ValidationError(f"{name}: {reason}", details={name: [reason]})


def param_text(params: Mapping[str, Any], name: str, *, max_length: int = 255) -> str | None:
    """A text filter: None when absent or blank; checked text and length otherwise."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = text_check(str(raw), name)
    if len(text) > max_length:
        raise _fail(name, f"must be at most {max_length} characters")
    return text


def param_choice(params: Mapping[str, Any], name: str, choices: Iterable[str]) -> str | None:
    """A filter that must be one of ``choices`` (None when absent or blank)."""
    allowed = list(choices)
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise _fail(name, f"must be one of {', '.join(allowed)}")
    return str(raw)


def param_int(
    params: Mapping[str, Any], name: str, *, low: int = 1, high: int = INT_MAX
) -> int | None:
    """A whole-number filter between ``low`` and ``high`` (None when absent or blank)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise _fail(name, "must be a whole number")
    value = int(text)
    if not low <= value <= high:
        raise _fail(name, f"must be between {low} and {high}")
    return value


def param_bool(params: Mapping[str, Any], name: str) -> bool | None:
    """true/false (1/0, yes/no); None when absent or blank."""
    raw = str(params.get(name) or "").lower()
    if raw == "":
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise _fail(name, "must be true or false")
