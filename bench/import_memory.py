"""Peak memory of an import: hostile files and a real ~100 MB one (issue 15).

Each file is imported by a fresh process (``--child``) into a throw-away Postgres
database (``--db``, default ``feedback_bench_import_mem``) through the service every door
uses (``feedback.services.imports.items_import``); the process reports its resident set
before the import (Django loaded, a one-row import done to load every module) and its
peak during it (``ru_maxrss``). The files, written under a temporary folder:

- ``blank-lines.jsonl.gz``: 1 GiB of newlines in a ~1 MB gzip (refused: it inflates past
  the 100 MB limit);
- ``empty-arrays.json.gz``: a 95 MB JSON array of empty arrays in a ~94 KB gzip (refused
  with row errors);
- ``deep.jsonl``: a row nested 100,000 levels (a row error);
- ``real.jsonl``: ~95 MB of native rows (4 answers of ~900 characters and a ranking each),
  imported;
- ``real.json``: the same rows as one JSON array, imported again (nothing new is written,
  every row is read and checked).

DEBUG is off, as in production: with DEBUG on, Django keeps the text of the last 9,000
statements per connection (the bulk inserts of a big import hold every answer's text).

Run:  .venv/bin/python bench/import_memory.py [--megabytes 95]   (--smoke: 2 MB, fast)
"""

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import create_database, drop_database  # noqa: E402

WORDS = [
    "the", "a", "model", "answer", "reward", "policy", "human", "feedback", "rank",
    "prefer", "better", "worse", "because", "explain", "code", "function", "return",
    "value", "list", "data", "train", "step", "loss", "gradient", "token", "text",
]  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, fmt: str) -> None:
    import django

    django.setup()
    from core.errors import ValidationError
    from feedback.models import Project
    from feedback.services.imports import items_import

    project, _ = Project.objects.get_or_create(slug="mem", defaults={"name": "Memory"})
    warm = Path(tempfile.mkdtemp()) / "warm.jsonl"
    warm.write_text(json.dumps({"prompt": "warm", "responses": ["a", "b"]}) + "\n")
    items_import(project=project, source=warm, format=fmt)
    baseline = rss_mb()
    started = time.perf_counter()
    try:
        result = items_import(project=project, source=path, format=fmt)
        outcome = f"imported {result.items_created} new, {result.items_existing} existing"
    except ValidationError as error:
        count = (error.details or {}).get("error_count")
        outcome = f"refused ({count} error(s)): {error.message[:90]}"
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline": baseline, "peak": peak, "seconds": seconds, "outcome": outcome}))


def write_files(folder: Path, megabytes: float, smoke: bool) -> list[tuple[str, Path]]:
    blank = folder / "blank-lines.jsonl.gz"
    with gzip.open(blank, "wb", compresslevel=9) as out:
        chunk = b"\n" * (8 << 20)
        for _ in range(2 if smoke else 128):  # 16 MB smoke, 1 GiB otherwise
            out.write(chunk)
    arrays = folder / "empty-arrays.json.gz"
    count = (1 if smoke else 95) * 1024 * 1024 // 3
    with gzip.open(arrays, "wb", compresslevel=9) as out:
        out.write(b"[")
        for _ in range(count // 100_000):
            out.write(b"[]," * 100_000)
        out.write(b"[]]")
    deep = folder / "deep.jsonl"
    deep.write_text(
        json.dumps({"prompt": "Hi", "responses": ["a", "b"]})
        + "\n"
        + '{"prompt": "Hi", "responses": ["a", "b"], "metadata": '
        + "[" * 100_000
        + "]" * 100_000
        + "}\n"
    )
    rng = random.Random(15)
    real = folder / "real.jsonl"
    target = megabytes * 1024 * 1024
    with real.open("w") as out:
        n = 0
        while out.tell() < target:
            answers = [" ".join(rng.choices(WORDS, k=150)) for _ in range(4)]
            row = {
                "external_id": f"mem-{n}",
                "prompt": " ".join(rng.choices(WORDS, k=40)) + "?",
                "responses": [{"content": a, "model": f"m{i}"} for i, a in enumerate(answers)],
                "ranking": [[0], [2, 1], [3]],
                "metadata": {"n": n, "topic": rng.choice(WORDS)},
            }
            out.write(json.dumps(row) + "\n")
            n += 1
    array = folder / "real.json"
    with real.open() as source, array.open("w") as out:
        out.write("[\n")
        for i, line in enumerate(source):
            out.write(("," if i else "") + line)
        out.write("]\n")
    return [
        ("blank lines (gzip)", blank),
        ("empty arrays (gzip)", arrays),
        ("100,000 levels deep", deep),
        ("real rows, JSON Lines", real),
        ("real rows, JSON array (re-import)", array),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=95.0)
    parser.add_argument("--db", default="feedback_bench_import_mem")
    parser.add_argument("--smoke", action="store_true", help="small files, for make bench-smoke")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    megabytes = 2.0 if args.smoke else args.megabytes
    url = create_database(args.db)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": "WARNING", "DEBUG": "False",
           "FEEDBACK_IMPORT_MAX_BYTES": str(100 * 1024 * 1024)}  # fmt: skip
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="import-mem-") as tmp:
            files = write_files(Path(tmp), megabytes, args.smoke)
            print(f"{'file':<36} {'on disk':>10} {'baseline':>9} {'peak':>8} {'growth':>8} "
                  f"{'time':>7}  outcome")  # fmt: skip
            for label, path in files:
                answer = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), "native"],
                    cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                )  # fmt: skip
                figures = json.loads(answer.stdout.strip().splitlines()[-1])
                size = path.stat().st_size / 1024 / 1024
                growth = figures["peak"] - figures["baseline"]
                print(
                    f"{label:<36} {size:>7.1f} MB {figures['baseline']:>6.1f} MB "
                    f"{figures['peak']:>5.1f} MB {growth:>+5.1f} MB {figures['seconds']:>6.1f}s  "
                    f"{figures['outcome']}"
                )
    finally:
        drop_database(args.db)


if __name__ == "__main__":
    main()
