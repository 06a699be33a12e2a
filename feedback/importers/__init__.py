"""Parsers for the import formats, one module per format. Pure Python, no ORM: each
turns one decoded JSON row into ``ParsedItem``\\ s; ``feedback.services.imports`` reads
the file and writes the rows."""

from feedback.importers import hh_rlhf, native, oasst, sharegpt, trl
from feedback.importers.base import (
    ParsedItem,
    ParsedResponse,
    Parser,
    RowError,
    RowSkipped,
)

PARSERS: dict[str, Parser] = {
    "native": native.parse,
    "trl": trl.parse,
    "hh-rlhf": hh_rlhf.parse,
    "oasst": oasst.parse,
    "sharegpt": sharegpt.parse,
}

__all__ = ["PARSERS", "ParsedItem", "ParsedResponse", "Parser", "RowError", "RowSkipped"]
