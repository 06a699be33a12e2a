"""Reading an import file: size limit, gzip, JSON Lines or a JSON array, UTF-8.

The size limit holds for the bytes on disk and, for gzip, for the decompressed bytes
too. Both are counted while streaming, so an oversized file (or a small gzip that
inflates to gigabytes) is refused after reading at most the limit, never loaded whole.

Whether the file is JSON Lines or a JSON array is told from its content (a JSON array
starts with ``[``), whatever its name. A row number is the line number in a JSON Lines
file (blank lines count) and the 1-based position in a JSON array.

Both are read streaming, a chunk at a time, with memory bounded by the chunk and the
largest row (at most ``MAX_ROW_BYTES``), whatever the file's size: runs of blank lines
are counted, not collected; a JSON array is cut into its elements by a scanner that
tracks strings and brackets (so a row nested deeper than ``core.inputs.MAX_JSON_DEPTH``
is a row error found without decoding it), and each row is decoded on its own by
``core.inputs.json_parse`` (64-bit integers, no NUL or lone surrogate in any text).
"""

import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast

from core.inputs import MAX_JSON_DEPTH, InputError, json_parse
from feedback.importers.base import RowError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
BLANK = b" \t\r\n"
CHUNK_BYTES = 1 << 20
MAX_ROW_BYTES = 16 * 1024 * 1024
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")
# Everything up to the next bracket (or comma, at the top level of a row), strings whole.
_SCAN_TOP = re.compile(rb'[^"\[\]{},]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"\[\]{},]*)*', re.DOTALL)
_SCAN_IN = re.compile(rb'[^"\[\]{}]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"\[\]{}]*)*', re.DOTALL)


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
    """Yield ``(row_number, value)`` for each row; ``value`` is a ``RowError`` for a row
    that cannot be decoded (not UTF-8, not JSON, too deep, too large). File-wide problems
    raise FileRefused."""
    try:
        yield from _rows(_Buffer(stream))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise FileRefused(f"The file is not valid gzip: {exc}.") from exc


class _Buffer:
    """A window on the stream: ``data[pos:]`` is what is not consumed yet."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.data = b""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in the bytes dropped from the window
        self.column_before = 0  # bytes dropped since the last of them

    def more(self, keep: int) -> bool:
        """Read another chunk, dropping the bytes before ``keep``; False at the end."""
        if self.eof:
            return False
        chunk = self.stream.read(CHUNK_BYTES)
        if not chunk:
            self.eof = True
            return False
        self.lines_before += self.data.count(b"\n", 0, keep)
        newline = self.data.rfind(b"\n", 0, keep)
        self.column_before = keep - newline - 1 if newline >= 0 else self.column_before + keep
        self.data = self.data[keep:] + chunk
        self.pos -= keep
        return True


def _rows(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    while len(buf.data) < 4 and buf.more(0):
        pass
    if buf.data.startswith(UTF16_BOMS):
        raise FileRefused("The file is UTF-16; save it as UTF-8.")
    if buf.data.startswith(UTF8_BOM):
        buf.pos = len(UTF8_BOM)
    blank_lines = 0  # counted, not kept: a file may start with a gigabyte of them
    found = _NOT_BLANK.search(buf.data, buf.pos)
    while found is None:
        blank_lines += buf.data.count(b"\n", buf.pos)
        buf.pos = len(buf.data)
        if not buf.more(buf.pos):
            raise FileRefused("The file is empty.")
        found = _NOT_BLANK.search(buf.data, buf.pos)
    blank_lines += buf.data.count(b"\n", buf.pos, found.start())
    buf.pos = found.start()
    if buf.data.startswith(UTF16_BOMS, buf.pos):
        raise FileRefused("The file is UTF-16; save it as UTF-8.")
    if buf.data[buf.pos : buf.pos + 1] == b"[":
        buf.pos += 1
        yield from _array_rows(buf)
    else:
        yield from _line_rows(buf, number=blank_lines + 1)


def _decode(data: bytes, *, depth_checked: bool = False) -> Any:
    try:
        return json_parse(data, max_depth=MAX_JSON_DEPTH if not depth_checked else 10**9)
    except InputError as exc:
        return RowError(exc.message if not exc.path else f"{exc.path}: {exc.message}")


def _line_rows(buf: _Buffer, *, number: int) -> Iterator[tuple[int, Any]]:
    """The rows of a JSON Lines file; ``number`` is the line number at ``buf.pos``."""
    while True:
        found = _NOT_BLANK.search(buf.data, buf.pos)
        if found is None:
            number += buf.data.count(b"\n", buf.pos)
            buf.pos = len(buf.data)
            if not buf.more(buf.pos):
                return
            continue
        number += buf.data.count(b"\n", buf.pos, found.start())
        buf.pos = found.start()
        end = buf.data.find(b"\n", buf.pos)
        while end == -1 and len(buf.data) - buf.pos <= MAX_ROW_BYTES and buf.more(buf.pos):
            end = buf.data.find(b"\n", buf.pos)
        if end == -1 and len(buf.data) - buf.pos > MAX_ROW_BYTES:
            yield (
                number,
                RowError(f"is longer than the largest row allowed ({size_text(MAX_ROW_BYTES)})"),
            )
            while end == -1:  # skip the rest of the line
                buf.pos = len(buf.data)
                if not buf.more(buf.pos):
                    return
                end = buf.data.find(b"\n", buf.pos)
            buf.pos = end + 1
            number += 1
            continue
        line = buf.data[buf.pos : end if end != -1 else len(buf.data)]
        yield number, _line_value(line)
        if end == -1:
            return
        buf.pos = end + 1
        number += 1


def _line_value(line: bytes) -> Any:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(f"is not valid UTF-8 ({exc.reason} at byte {exc.start})")
    return _decode(line.rstrip(BLANK))


def _array_rows(buf: _Buffer) -> Iterator[tuple[int, Any]]:
    """The elements of a JSON array whose ``[`` was just consumed."""
    number = 0
    while True:
        number += 1
        start = buf.pos
        depth = deepest = 0
        skipping = False  # the row is too large: scan on without keeping it
        while True:
            scan = _SCAN_TOP if depth == 0 else _SCAN_IN
            buf.pos = scan.match(buf.data, buf.pos).end()  # type: ignore[union-attr]
            if buf.pos >= len(buf.data) or buf.data[buf.pos] == 0x22:  # end, or cut string
                if not skipping and buf.pos - start > MAX_ROW_BYTES:
                    skipping = True
                # Keep the row so far (a string cut by the window restarts at its quote).
                keep = buf.pos if skipping else start
                if not buf.more(keep):
                    raise FileRefused(
                        f"The file is not valid JSON: it ends inside row {number}, before "
                        "the array is closed."
                    )
                start -= keep
                continue
            char = buf.data[buf.pos]
            if char in b"[{":
                depth += 1
                deepest = max(deepest, depth)
            elif char in b"]}":
                if depth == 0:
                    if char != 0x5D:
                        _refuse_json(buf, buf.pos, "unexpected '}'")
                    break
                depth -= 1
            else:  # a comma at the top level of the row
                break
            buf.pos += 1
        closing = buf.data[buf.pos] == 0x5D
        element = b"" if skipping else buf.data[start : buf.pos]
        if skipping:
            yield (
                number,
                RowError(f"is larger than the largest row allowed ({size_text(MAX_ROW_BYTES)})"),
            )
        elif not element.strip(BLANK):
            if not (closing and number == 1):
                _refuse_json(buf, buf.pos, "a row is missing between two commas")
        elif deepest > MAX_JSON_DEPTH:
            yield number, RowError(f"nests deeper than {MAX_JSON_DEPTH} levels")
        else:
            value = _decode(element, depth_checked=True)
            if isinstance(value, RowError) and value.message.startswith("is not valid JSON"):
                _refuse_element(buf, start, element)
            yield number, value
        buf.pos += 1
        if closing:
            _expect_end(buf)
            return


def _refuse_json(buf: _Buffer, at: int, reason: str) -> None:
    line = buf.lines_before + buf.data.count(b"\n", 0, at) + 1
    newline = buf.data.rfind(b"\n", 0, at)
    column = at - newline if newline >= 0 else buf.column_before + at + 1
    raise FileRefused(f"The file is not valid JSON (line {line}, column {column}: {reason}).")


def _refuse_element(buf: _Buffer, start: int, element: bytes) -> None:
    """A syntax error inside an array's element: the file's line and column."""
    try:
        json.loads(element.decode("utf-8"))
    except json.JSONDecodeError as exc:
        _refuse_json(buf, start + len(element.decode("utf-8")[: exc.pos].encode("utf-8")), exc.msg)
    except UnicodeDecodeError:  # pragma: no cover - reported as a row error before
        pass


def _expect_end(buf: _Buffer) -> None:
    while True:
        found = _NOT_BLANK.search(buf.data, buf.pos)
        if found is not None:
            _refuse_json(buf, found.start(), "more data after the closing ']'")
        buf.pos = len(buf.data)
        if not buf.more(buf.pos):
            return
