"""Reading an import file: size limit, gzip, JSON Lines or a JSON array, UTF-8.

The size limit holds for the bytes on disk and, for gzip, for the decompressed bytes
too. Both are counted while streaming, so an oversized file (or a small gzip that
inflates to gigabytes) is refused after reading at most the limit, never loaded whole.

Whether the file is JSON Lines or a JSON array is told from its content (a JSON array
starts with ``[``), whatever its name. A row number is the line number in a JSON Lines
file (blank lines count) and the 1-based position in a JSON array.
"""

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast

from feedback.importers.base import RowError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
BLANK = b" \t\r\n"


class FileRefused(Exception):
    """The file as a whole cannot be read (too large, not gzip, not UTF-8, not JSON)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileTooLarge(FileRefused):
    pass


def size_text(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Limited(io.RawIOBase):
    """A raw stream that refuses to hand out more than ``limit`` bytes of ``inner``."""

    def __init__(self, inner: _Readable, limit: int, what: str) -> None:
        self._inner = inner
        self._limit = limit
        self._what = what
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._inner.read(len(view))
        n = len(data)
        self._count += n
        if self._count > self._limit:
            raise FileTooLarge(
                f"The file {self._what} more than the import limit of {size_text(self._limit)} "
                "(setting FEEDBACK_IMPORT_MAX_BYTES)."
            )
        view[:n] = data
        return n


@contextmanager
def source_open(
    source: str | Path | IO[bytes], *, max_bytes: int
) -> Iterator[tuple[IO[bytes], bool]]:
    """Open ``source`` as a limited, decompressed byte stream; yields (stream, was_gzip)."""
    owned: IO[bytes] | None = None
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise FileRefused(f"No such file: {path}.")
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLarge(
                f"The file is {size_text(size)}, more than the import limit of "
                f"{size_text(max_bytes)} (setting FEEDBACK_IMPORT_MAX_BYTES)."
            )
        owned = path.open("rb")
        raw: _Readable = owned
    else:
        raw = source
    try:
        stream = io.BufferedReader(_Limited(raw, max_bytes, "holds"))
        if stream.peek(2)[:2] == GZIP_MAGIC:
            inflated = gzip.GzipFile(fileobj=stream, mode="rb")
            inflated_stream = io.BufferedReader(_Limited(inflated, max_bytes, "decompresses to"))
            yield cast(IO[bytes], inflated_stream), True
        else:
            yield cast(IO[bytes], stream), False
    finally:
        if owned is not None:
            owned.close()


def rows_read(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Yield ``(row_number, value)`` for each row; ``value`` is a ``RowError`` for a line
    that is not UTF-8 or not JSON (JSON Lines only). File-wide problems raise FileRefused."""
    try:
        yield from _rows(stream)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FileRefused(f"The file is not valid gzip: {exc}.") from exc


def _rows(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    head: list[bytes] = []
    first = b""
    for line in stream:
        head.append(line)
        stripped = line.lstrip(BLANK)
        if len(head) == 1:
            if stripped.startswith(UTF16_BOMS) or line.startswith(UTF16_BOMS):
                raise FileRefused("The file is UTF-16; save it as UTF-8.")
            stripped = stripped.removeprefix(UTF8_BOM).lstrip(BLANK)
        if stripped:
            first = stripped[:1]
            break
    if not head or not first:
        raise FileRefused("The file is empty.")
    if first == b"[":
        yield from _array_rows(b"".join(head) + stream.read())
    else:
        yield from _line_rows(head, stream)


def _array_rows(data: bytes) -> Iterator[tuple[int, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRefused(f"The file is not valid UTF-8 (line {line}: {exc.reason}).") from exc
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRefused(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from exc
    if not isinstance(rows, list):
        raise FileRefused("The file must hold a JSON array of rows, or one JSON object a line.")
    yield from enumerate(rows, start=1)


def _line_rows(head: list[bytes], rest: IO[bytes]) -> Iterator[tuple[int, Any]]:
    def lines() -> Iterator[bytes]:
        yield from head
        yield from rest

    for number, line in enumerate(lines(), start=1):
        if number == 1:
            line = line.removeprefix(UTF8_BOM)
        if not line.strip(BLANK):
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, RowError(f"is not valid UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RowError(f"is not valid JSON ({exc.msg}, column {exc.colno})")
