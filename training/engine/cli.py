"""The engine's command line (filled in with the methods)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise NotImplementedError("CLI: being implemented (issue 5)")
