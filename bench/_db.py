"""A throw-away Postgres database for a benchmark (``BENCH_POSTGRES`` names the server).

With ``BENCH_TEMPLATE`` set, a new database is a copy of that (already migrated) one, so a
run of many benchmarks (``make bench-smoke``) migrates once.
"""

import os

import psycopg

PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def create_database(name: str) -> str:
    """Create database ``name`` afresh (dropping one left behind); return its URL."""
    template = os.environ.get("BENCH_TEMPLATE")
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":  # python -m bench._db create|drop NAME (for the Makefile)
    import sys

    action, db = sys.argv[1], sys.argv[2]
    if action == "create":
        os.environ.pop("BENCH_TEMPLATE", None)
        print(create_database(db))
    else:
        drop_database(db)
