"""Hypothesis over the import parsers: whatever the bytes, reading and parsing a file ends
in rows, row errors or a refusal of the file, never another exception; and a whole
import through the service ends in a result or a 400 (ValidationError), never a crash."""

import contextlib
import gzip
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ValidationError
from feedback.importers import PARSERS, RowError, RowSkipped
from feedback.importers.reading import FileRefused, rows_read, source_open
from feedback.services.imports import items_import
from tests.factories import project_make

FORMATS = sorted(PARSERS)
MAX_BYTES = 1_000_000

# JSON values with the strings real files and hostile ones hold.
texts = st.text(max_size=30) | st.sampled_from(["\u0000", "\ud800", "x\udfff", "", " "])
numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=True)
scalars = st.none() | st.booleans() | numbers | texts
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(["prompt", "messages", "responses", "ranking",
                                       "chosen", "rejected", "role", "content", "metadata",
                                       "conversations", "from", "value", "text", "rank",
                                       "replies", "message_id", "id"]) | texts,
                      children, max_size=6),
    max_leaves=25,
)  # fmt: skip
native_rows = st.fixed_dictionaries(
    {"prompt": texts, "responses": st.lists(texts | values, max_size=4)},
    optional={"ranking": values, "metadata": values, "external_id": values},
)


def _encode(rows: list[Any], array: bool) -> bytes:
    dump = lambda v: json.dumps(v, allow_nan=True)  # noqa: E731 (NaN on purpose)
    if array:
        return ("[" + ",".join(dump(r) for r in rows) + "]").encode("utf-8", "surrogatepass")
    return "\n".join(dump(r) for r in rows).encode("utf-8", "surrogatepass")


files = (
    st.binary(max_size=3000)
    | st.builds(_encode, st.lists(values | native_rows, max_size=8), st.booleans())
    | st.builds(
        lambda depth, array: (
            _encode([json.loads("[" * depth + "]" * depth)], array)
            if depth < 900
            else (("[" if array else "") + "[" * depth + "]" * depth).encode()
        ),
        st.integers(min_value=1, max_value=5000),
        st.booleans(),
    )
)
maybe_gzipped = files | files.map(gzip.compress) | files.map(lambda b: gzip.compress(b)[:-5])


def read_and_parse(data: bytes, format: str) -> int:
    rows = 0
    try:
        with source_open(io.BytesIO(data), max_bytes=MAX_BYTES) as (stream, _):
            for _row, value in rows_read(stream):
                rows += 1
                if isinstance(value, RowError):
                    continue
                with contextlib.suppress(RowError, RowSkipped):
                    PARSERS[format](value)
    except FileRefused:
        pass
    return rows


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=maybe_gzipped, format=st.sampled_from(FORMATS))
def test_reading_and_parsing_any_bytes_ends_in_rows_row_errors_or_a_refusal(
    data: bytes, format: str
) -> None:
    read_and_parse(data, format)


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=maybe_gzipped, format=st.sampled_from(FORMATS))
def test_importing_any_bytes_is_a_result_or_a_400(data: bytes, format: str) -> None:
    project = project_make(slug="fuzz-import")
    try:
        result = items_import(project=project, source=io.BytesIO(data), format=format)
    except ValidationError as error:
        assert error.details["errors"], error.message
    else:
        assert result.rows_read >= 1
    finally:
        project.delete()
