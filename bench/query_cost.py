"""CPU cost of one database query on PostgreSQL, next to a bare Flask hello-world request.

Prints microseconds of this process's CPU per operation (the mean of ``--repeat`` runs after a
warm-up); asserts nothing. It explains bench/throughput.py's ratios: a customer page must look
its customer up, and one query through the stack the portal is built on costs more CPU than the
whole of a hello-world request does.

    .venv/bin/python bench/query_cost.py [--repeat 2000]
        [--admin-uri postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--admin-uri", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    import psycopg
    from flask import Flask
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    url = make_url(args.admin_uri)
    engine = create_engine(url, pool_pre_ping=True)  # as the portal's defaults have it
    raw = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                          dbname=url.database, password=url.password)
    raw_autocommit = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                     dbname=url.database, password=url.password, autocommit=True)
    hello = Flask("hello")
    hello.add_url_rule("/", "hello", lambda: "Hello, World!")
    client = hello.test_client()

    def hello_request():
        client.get("/")

    def psycopg_autocommit():
        raw_autocommit.execute("SELECT 1").fetchone()

    def psycopg_transaction():
        raw.execute("SELECT 1").fetchone()  # BEGIN, the query, then ROLLBACK: three round trips
        raw.rollback()

    def sqlalchemy_session():
        with Session(engine) as session:  # checkout with pre-ping, BEGIN, query, ROLLBACK
            session.execute(text("SELECT 1")).scalar()

    rows = [("bare Flask hello-world request (test client, no server)", hello_request),
            ("psycopg, autocommit: SELECT 1", psycopg_autocommit),
            ("psycopg, in a transaction: SELECT 1 + ROLLBACK", psycopg_transaction),
            ("SQLAlchemy Session (pre-ping): SELECT 1", sqlalchemy_session)]
    print(f"PostgreSQL at {url.host}:{url.port or 5432}; {args.repeat} runs each\n")
    print(f"| {'Operation':<58} | {'CPU µs':>7} |")
    print(f"| {'-' * 58} | {'-' * 6}:|")
    for name, operation in rows:
        for _ in range(100):
            operation()
        started = time.process_time()
        for _ in range(args.repeat):
            operation()
        spent = (time.process_time() - started) / args.repeat * 1e6
        print(f"| {name:<58} | {spent:>7.0f} |")
    engine.dispose()
    raw.close()
    raw_autocommit.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
