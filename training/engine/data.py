"""Reading and checking the JSONL files the API exports, before any model is loaded.

Each method names the columns it needs; a row that lacks one, or holds the wrong type, is refused
with its line number, so a job fails in a second with a message a user can act on instead of deep
inside TRL. Only the columns the method uses are kept (an export may carry ids or metadata).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.preferences import preference_problem
from training.engine.catalog import method_get
from training.engine.errors import DataError


@dataclass
class DataFile:
    """The rows of a checked data file, with what its lineage needs."""

    path: Path
    sha256: str
    rows: list[dict[str, Any]]
    conversational: bool


def _is_messages(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    )


# An empty completion is a valid answer (core.preferences); an empty prompt is not.
COMPLETIONS = ("chosen", "rejected", "completion")


def _check_value(where: str, column: str, kind: str, value: object) -> None:
    if kind == "text":
        if isinstance(value, str):
            if not value.strip() and column not in COMPLETIONS:
                raise DataError(f"{where}: column '{column}' is empty")
            return
        if _is_messages(value):
            return
        raise DataError(
            f"{where}: column '{column}' must be a string or a list of "
            f'{{"role", "content"}} messages, got {type(value).__name__}'
        )
    if kind == "bool" and not isinstance(value, bool):
        raise DataError(f"{where}: column '{column}' must be true or false, got {value!r}")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise DataError(f"{where}: column '{column}' must be a number, got {value!r}")
    if kind == "weight" and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
    ):
        raise DataError(f"{where}: column '{column}' must be a number >= 0, got {value!r}")


def data_read(path: str | Path, method: str) -> DataFile:
    """Read and check `path` for `method`; DataError names the file, line and column at fault."""
    spec = method_get(method)
    example = spec.example
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    raw = path.read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if text.lstrip().startswith("["):
        raise DataError(
            f"{path.name} is a JSON array; the engine reads JSON Lines: one object per line, "
            f"e.g. {example}"
        )
    required = spec.columns
    optional = spec.optional
    rows: list[dict[str, Any]] = []
    styles: set[bool] = set()
    optional_seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object like {example}")
        missing = [c for c in required if c not in obj]
        if missing:
            raise DataError(
                f"{where}: missing column {', '.join(repr(c) for c in missing)} "
                f"(a {method} row looks like {example})"
            )
        row: dict[str, Any] = {}
        for column, kind in {**required, **optional}.items():
            if column not in obj:
                continue
            _check_value(where, column, kind, obj[column])
            if kind == "text":
                styles.add(isinstance(obj[column], list))
            if column in optional:
                optional_seen[column] = optional_seen.get(column, 0) + 1
            row[column] = obj[column]
        if len(styles) > 1:
            raise DataError(
                f"{where}: mixes plain strings and message lists; use one form for every column"
            )
        if "chosen" in row:
            problem = preference_problem(
                prompt=row.get("prompt"), chosen=row["chosen"], rejected=row["rejected"]
            )
            if problem is not None:
                raise DataError(f"{where}: column '{problem[0]}': {problem[1]}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path.name} has no rows")
    for column, count in optional_seen.items():
        if count != len(rows):
            raise DataError(
                f"{path.name}: column '{column}' is present in {count} of {len(rows)} rows; "
                "give it in every row or in none"
            )
    if method == "kto" and len({row["label"] for row in rows}) < 2:
        raise DataError(f"{path.name}: KTO needs rows labelled both true and false")
    return DataFile(path=path, sha256=sha256, rows=rows, conversational=styles == {True})


def prompt_key(row: dict[str, Any]) -> str:
    """What a row answers, as text: its ``prompt``, or for rows without one (implicit
    prompts: whole chosen and rejected conversations or transcripts) the part the two share
    before their last assistant turn. Rows with the same key answer the same prompt."""
    if "prompt" in row:
        return json.dumps(row["prompt"], sort_keys=True, ensure_ascii=False)
    chosen, rejected = row.get("chosen"), row.get("rejected", row.get("completion"))
    if isinstance(chosen, list):
        return json.dumps(chosen[:-1], sort_keys=True, ensure_ascii=False)
    if isinstance(chosen, str) and isinstance(rejected, str):
        same = (n for n, (a, b) in enumerate(zip(chosen, rejected, strict=False)) if a != b)
        shared = chosen[: next(same, min(len(chosen), len(rejected)))]
        cut = shared.rfind("Assistant:")
        return shared[: cut if cut >= 0 else len(shared)]
    return json.dumps(chosen, sort_keys=True, ensure_ascii=False)


def data_split(
    rows: list[dict[str, Any]], *, eval_fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hold out about ``eval_fraction`` of the rows **by prompt**: every row of a held-out
    prompt is held out, so the held-out accuracy is measured on prompts the model never saw
    (several pairs of one ranked item share their prompt; a split by row would leak them).
    The prompts are shuffled with ``seed`` and taken until the held-out rows reach the
    fraction (at least one prompt, leaving at least one). With a single prompt in the file
    the rows themselves are split, as there is nothing else to hold out."""
    if eval_fraction <= 0 or len(rows) < 2:
        return list(rows), []
    keys = [prompt_key(row) for row in rows]
    groups = list(dict.fromkeys(keys))
    if len(groups) < 2:
        keys = [str(i) for i in range(len(rows))]
        groups = keys[:]
    random.Random(seed).shuffle(groups)
    target = max(1, round(len(rows) * eval_fraction))
    sizes: dict[str, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    held: set[str] = set()
    count = 0
    for key in groups[:-1]:  # the last prompt always trains
        if count >= target:
            break
        held.add(key)
        count += sizes[key]
    train = [row for row, key in zip(rows, keys, strict=True) if key not in held]
    evaluation = [row for row, key in zip(rows, keys, strict=True) if key in held]
    return train, evaluation


def prompt_messages(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A prompt as a message list (a plain string becomes one user turn)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return prompt
