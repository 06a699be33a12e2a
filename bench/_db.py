"""A throw-away Postgres database for a benchmark (``BENCH_POSTGRES`` names the server)."""

import os

import psycopg

PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def create_database(name: str) -> str:
    """Create database ``name`` afresh (dropping one left behind); return its URL."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
