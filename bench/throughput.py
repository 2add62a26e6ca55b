"""Throughput: requests per second of each customer page next to a bare Flask hello-world.

Prints a table (page, requests/s, ratio to the hello-world, queries per request); asserts
nothing. Both apps run under the same gunicorn settings (2 sync workers, production mode for
the portal, no access log) on loopback, in the same run, and wrk drives each for a few seconds
with one thread, so the ratio is what to read: absolute numbers move with whatever else the
machine is doing. The hello-world is measured before and after the pages and averaged.

The portal runs on PostgreSQL: a scratch database this script creates (and drops at the end),
seeded with the Acme Cloud demo; customer pages are fetched as Jenny, signed in.

    apt-get install wrk          # the load generator (Debian package)
    .venv/bin/python bench/throughput.py [--seconds 5] [--connections 4]
        [--admin-uri postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import (  # noqa: E402  (after the path is set)
    create_database,
    drop_database,
    free_port,
    production_env,
    start_gunicorn,
    stop_servers,
    wait_until_up,
)

HELLO_APP = '''from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"
'''
HTMX = {"HX-Request": "true", "HX-Request-Type": "partial"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="load per page (default 5)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--admin-uri", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL database to create the scratch database from")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="rate-limit storage, as production uses")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("wrk is missing: install it with `apt-get install wrk` (Debian/Ubuntu) "
              "or `brew install wrk`, then run this again.", file=sys.stderr)
        return 2

    scratch = f"bench_throughput_{os.getpid()}"
    database_uri = create_database(args.admin_uri, scratch)
    tmp = Path(tempfile.mkdtemp(prefix="throughput-"))
    servers: list[subprocess.Popen] = []
    try:
        seeded = _seed(database_uri, tmp)
        env = production_env(database_uri, tmp, args.redis, seeded["secret"])
        (tmp / "hello.py").write_text(HELLO_APP)
        hello_port, portal_port = free_port(), free_port()
        servers.append(start_gunicorn("hello:app", hello_port, args.workers, cwd=tmp, env=env, log=tmp))
        servers.append(start_gunicorn("portal:create_app()", portal_port, args.workers, cwd=ROOT,
                                 env=env, log=tmp))
        for port in (hello_port, portal_port):
            wait_until_up(port, servers)

        cookie = {"Cookie": f"{seeded['cookie_name']}={seeded['cookie']}"}
        pages = [
            # No query and no form: what any portal page costs before its own work.
            ("signed out (the floor)", "/p/signed-out", {}),
            ("login (email step)", f"/p/login/{seeded['link']}", {}),
            ("overview", "/p/", cookie),
            ("billing information", "/p/billing-information", cookie),
            ("payment methods", "/p/payment-methods", cookie),
            ("add a card", "/p/payment-methods/new", cookie),
            ("invoice history", "/p/invoices", cookie),
            ("invoice history (htmx)", "/p/invoices", {**cookie, **HTMX}),
            ("invoice (open)", f"/p/invoices/{seeded['invoice']}", cookie),
        ]
        for _name, path, headers in pages:
            _check_ok(portal_port, path, headers)

        hello_url = f"http://127.0.0.1:{hello_port}/"
        _wrk(hello_url, {}, 1, args.connections)  # warm up both servers
        _wrk(f"http://127.0.0.1:{portal_port}{pages[2][1]}", cookie, 1, args.connections)
        before = _wrk(hello_url, {}, args.seconds, args.connections)
        results = [(name, _wrk(f"http://127.0.0.1:{portal_port}{path}", headers, args.seconds,
                               args.connections), seeded["queries"][name])
                   for name, path, headers in pages]
        after = _wrk(hello_url, {}, args.seconds, args.connections)
        baseline = (before + after) / 2

        print(f"\ngunicorn, {args.workers} sync workers; wrk 1 thread, {args.connections} "
              f"connections, {args.seconds} s per page; PostgreSQL; {os.cpu_count()} CPUs")
        print(f"hello-world baseline: {baseline:,.0f} requests/s "
              f"(before {before:,.0f}, after {after:,.0f})\n")
        print(f"| {'Page':<24} | {'Requests/s':>10} | {'Ratio':>6} | {'Queries':>7} |")
        print(f"| {'-' * 24} | {'-' * 10}:| {'-' * 6}:| {'-' * 7}:|")
        for name, rate, queries in results:
            print(f"| {name:<24} | {rate:>10,.0f} | {rate / baseline:>6.0%} | {queries:>7} |")
        return 0
    finally:
        stop_servers(servers)
        drop_database(args.admin_uri, scratch)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the scratch database and its data ------------------------------------------------------

def _seed(database_uri: str, tmp: Path) -> dict:
    """Seed the demo, sign Jenny in, and count each page's queries in-process."""
    os.environ["PORTAL_INSTANCE_PATH"] = str(tmp / "seed-instance")
    from sqlalchemy import event

    from bench.demo_data import seed_signed_in_demo
    from portal import create_app
    from portal.customers.auth import SESSION_KEY
    from portal.extensions import db

    secret = secrets.token_hex(32)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri, "SECRET_KEY": secret,
                      "MAIL_BACKEND": "smtp", "MAIL_SUPPRESS_SEND": True,
                      # As the production servers measured below keep them (counted right).
                      "SETTINGS_CACHE_SECONDS": 5,
                      # No outbox threads whose polls would be counted with a page's queries.
                      "WORKER_MODE": "external"})
    with app.app_context():
        demo = seed_signed_in_demo()
        token = demo.token
        seeded = {"link": demo.link_id, "invoice": demo.invoice_id, "secret": secret}
        db.session.remove()

    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token
        cookie.permanent = True
    name = app.config["SESSION_COOKIE_NAME"]
    seeded.update(cookie_name=name, cookie=client.get_cookie(name).value)

    statements = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    counts = {}
    anonymous = app.test_client()
    for name, path, browser, headers in [
        ("signed out (the floor)", "/p/signed-out", anonymous, {}),
        ("login (email step)", f"/p/login/{seeded['link']}", anonymous, {}),
        ("overview", "/p/", client, {}),
        ("billing information", "/p/billing-information", client, {}),
        ("payment methods", "/p/payment-methods", client, {}),
        ("add a card", "/p/payment-methods/new", client, {}),
        ("invoice history", "/p/invoices", client, {}),
        ("invoice history (htmx)", "/p/invoices", client, HTMX),
        ("invoice (open)", f"/p/invoices/{seeded['invoice']}", client, {}),
    ]:
        browser.get(path, headers=headers)
        statements.clear()
        browser.get(path, headers=headers)
        counts[name] = len(statements)
    with app.app_context():
        db.engine.dispose()
    seeded["queries"] = counts
    return seeded


# ---- load ------------------------------------------------------------------------------------

def _check_ok(port: int, path: str, headers: dict) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200 or response.url.rstrip("/") != request.full_url.rstrip("/"):
            raise SystemExit(f"{path} answered {response.status} at {response.url}")


def _wrk(url: str, headers: dict, seconds: int, connections: int) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failed:
        raise SystemExit(f"{url}: {failed.group(1)} answers were not 2xx/3xx\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


if __name__ == "__main__":
    sys.exit(main())
