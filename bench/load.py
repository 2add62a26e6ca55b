"""Load: many customers signing in and walking the portal, at the demo and at a million invoices.

Prints, for each data set, p50/p95/p99 (ms) and requests/s of every route of the walk
(bench/load_walk.py: sign in with the emailed passcode, the overview, invoice history page 1
and a deep page, an invoice, its PDF, a billing edit (the form, then a new phone number),
paying the invoice, signing out) with the queries each route sends (counted in-process, as
tests/test_query_counts.py does); then the p99 ratio large/demo per route, and EXPLAIN
(ANALYZE, BUFFERS) of every query of the walk at the large data set. Asserts nothing.

For each data set, two gunicorn instances on their own ports (--workers sync workers each)
share PostgreSQL and Redis (the rate-limit counts); locust (--users browsers, half on each
instance, no think time) drives them from this machine. Both data sets' servers run side by
side and the measured rounds alternate (demo, large, demo, ...: --rounds of --seconds each,
after a --warmup that is not counted), so whatever else the machine is doing weighs on both
alike; the load average of each round is printed with the figures. Percentiles are exact,
from every request's time (locust's own tables round them).

The data sets, each a scratch database this script creates and drops:
- demo: the Acme Cloud demo (portal/demo.py) plus --demo-customers customers shaped like
  Jenny (a Pro subscription gone past due, six paid invoices and an open one, a card), so
  there are customers to sign in and invoices to pay;
- large: a copy (CREATE DATABASE ... TEMPLATE) of --large-db, the database bench/seed_large.py
  fills (100k customers, 1M invoices), upgraded to the latest migration; the copy takes the
  walk's writes (passcodes, sign-ins, phone numbers, payments), the seeded database none.
Customers walked are those with an open invoice on a past-due subscription and a saved
default card, each walked once (paying is the last step), in a fixed pseudo-random order.

The servers run in production mode with PORTAL_WORKER_MODE=external (no worker: the sign-in
emails wait in the outbox, where the walk reads the code) and the login rate limits raised
(PORTAL_LOGIN_*_LIMIT_*): every simulated customer signs in from 127.0.0.1, which the real
limits would stop after ten emails.

    apt-get install postgresql redis          # PostgreSQL with the seeded database, Redis
    .venv/bin/pip install -e '.[bench]'      # locust
    .venv/bin/python bench/load.py [--rounds 3] [--seconds 40] [--warmup 10] [--users 8]
        [--workers 2] [--demo-customers 500] [--large-db bench_large] [--only demo|large]
        [--admin-uri postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

ROUTES = [
    # (locust name, in-process request: method, path template, expected status)
    ("login: email page", "GET", "/p/login/{link}", 200),
    ("login: send the code", "POST", "/p/login/{link}", 303),
    ("login: code page", "GET", "/p/login/{link}/code", 200),
    ("login: enter the code", "POST", "/p/login/{link}/code", 303),
    ("overview", "GET", "/p/", 200),
    ("invoices, page 1", "GET", "/p/invoices", 200),
    ("invoices, a deep page", "GET", "/p/invoices?after={deep_after}", 200),
    ("an invoice", "GET", "/p/invoices/{open_invoice}", 200),
    ("its PDF", "GET", "/p/invoices/{open_invoice}/invoice.pdf", 200),
    ("billing edit: form", "GET", "/p/billing-information/phone", 200),
    ("billing edit: save", "POST", "/p/billing-information/phone", 303),
    ("pay the invoice", "POST", "/p/invoices/{open_invoice}/pay", 303),
    ("sign out", "POST", "/p/sign-out", 303),
]
# The customer pages the goal is about; the login steps and signing out are shown besides.
GOAL_ROUTES = [name for name, *_ in ROUTES if not name.startswith(("login", "sign out"))]
LIMITS = {
    # Every simulated customer signs in from 127.0.0.1: the per-IP limits would stop the walk
    # after ten emails, the per-address ones never bite (each customer signs in once).
    "PORTAL_LOGIN_EMAIL_LIMIT_PER_IP": "1000000 per minute",
    "PORTAL_LOGIN_EMAIL_LIMIT_PER_ADDRESS_AND_IP": "1000000 per minute",
    "PORTAL_LOGIN_EMAIL_LIMIT_PER_ADDRESS": "1000000 per minute",
    "PORTAL_LOGIN_CODE_CHECK_LIMIT_PER_IP": "1000000 per minute",
}


_HIDDEN = re.compile(r'<input[^>]*name="(csrf_token|idempotency_key)"[^>]*value="([^"]*)"')


def hidden_fields(page: str) -> dict[str, str]:
    """The CSRF token and the pay form's key, from a page's hidden inputs."""
    return dict(_HIDDEN.findall(page))


@dataclass
class DataSet:
    name: str
    uri: str
    customers: int = 0
    invoices: int = 0
    link: str = ""
    walkers: list = field(default_factory=list)
    queries: dict = field(default_factory=dict)
    explained: dict = field(default_factory=dict)
    hosts: list = field(default_factory=list)
    samples: list = field(default_factory=list)  # (route, ms, error or None)
    walked: int = 0  # customers handed to locust so far, warm-up included
    walks: int = 0  # walks finished in the counted rounds
    loads: list = field(default_factory=list)
    seconds: float = 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40, help="length of a round (default 40)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per data set, alternating demo and large (default 3)")
    parser.add_argument("--warmup", type=int, default=10, help="load before, not counted")
    parser.add_argument("--users", type=int, default=8, help="locust browsers (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="sync workers per gunicorn")
    parser.add_argument("--demo-customers", type=int, default=500,
                        help="Jenny-like customers added to the demo (default 500)")
    parser.add_argument("--walkers", type=int, default=4000,
                        help="customers planned per data set at most (each walks once)")
    parser.add_argument("--large-db", default="bench_large",
                        help="the seeded database to copy (bench/seed_large.py)")
    parser.add_argument("--only", choices=["demo", "large"], help="one data set only")
    parser.add_argument("--admin-uri", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="rate-limit storage both instances share")
    args = parser.parse_args()

    try:
        import locust  # noqa: F401
    except ImportError:
        print("locust is missing: `.venv/bin/pip install -e '.[bench]'`", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="load-"))
    os.environ["PORTAL_INSTANCE_PATH"] = str(tmp / "prepare-instance")
    secret = secrets.token_hex(32)
    made: list[str] = []
    datasets: list[DataSet] = []
    servers: list = []
    try:
        if args.only in (None, "demo"):
            name = f"bench_load_demo_{os.getpid()}"
            uri = create_database(args.admin_uri, name)
            made.append(name)
            print(f"demo: seeding {name} with the demo and {args.demo_customers} customers ...",
                  flush=True)
            datasets.append(DataSet("demo", uri))
            _seed_demo(uri, secret, args.demo_customers)
        if args.only in (None, "large"):
            name = f"bench_load_large_{os.getpid()}"
            print(f"large: copying {args.large_db} to {name} ...", flush=True)
            uri = _copy_database(args.admin_uri, args.large_db, name)
            made.append(name)
            datasets.append(DataSet("large", uri))
            _upgrade(uri, secret)
        for dataset in datasets:
            print(f"{dataset.name}: planning the walk and counting queries ...", flush=True)
            _prepare(dataset, secret, args.walkers, explain=dataset.name == "large")
        # Both data sets' servers run side by side and the rounds alternate, so whatever else
        # the machine is doing weighs on both alike.
        for dataset in datasets:
            servers += _start_servers(dataset, secret, args, tmp)
        for dataset in datasets:
            print(f"{dataset.name}: {args.warmup} s warm-up ...", flush=True)
            _locust(dataset, secret, args.warmup, args.users, tmp / f"{dataset.name}-warmup",
                    counted=False)
        for round_number in range(1, args.rounds + 1):
            for dataset in datasets:
                print(f"{dataset.name}: round {round_number} of {args.rounds}, {args.seconds} s "
                      "...", flush=True)
                _locust(dataset, secret, args.seconds, args.users,
                        tmp / f"{dataset.name}-{round_number}", counted=True)
        stop_servers(servers)
        servers = []
        _report(datasets, args)
        return 0
    finally:
        stop_servers(servers)
        for name in made:
            drop_database(args.admin_uri, name)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the data sets ---------------------------------------------------------------------------

def _app(uri: str, secret: str):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": secret, "ENV": "production",
                       "PUBLIC_URL": "https://127.0.0.1", "TRUSTED_HOSTS": ["localhost"],
                       "MAIL_BACKEND": "smtp", "MAIL_SUPPRESS_SEND": True,
                       "RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": True,
                       "RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False,
                       # As the servers keep them, so the counts are the servers' counts.
                       "SETTINGS_CACHE_SECONDS": 5,
                       # No outbox threads whose polls would be counted with a page's queries.
                       "WORKER_MODE": "external"})


def _upgrade(uri: str, secret: str) -> None:
    """The schema (or the rest of it) as the migrations make it: the indexes included."""
    from flask_migrate import upgrade

    from portal.extensions import db

    app = _app(uri, secret)
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _seed_demo(uri: str, secret: str, extra: int) -> None:
    """The demo, then ``extra`` customers each with Jenny's history (and the login link)."""
    from portal import demo
    from portal.extensions import db

    _upgrade(uri, secret)
    app = _app(uri, secret)
    with app.app_context():
        now = datetime.now(UTC).replace(microsecond=0)
        demo.seed_demo(db.session, now=now)
        prices = demo._seed_catalog(db.session, now)
        price = prices[("Pro", "month", "usd")]
        for number in range(extra):
            customer = demo._customer(db.session, f"customer{number:05d}@demo.example",
                                      f"Customer {number}", f"load-{number}", now)
            card = demo._card(db.session, customer, "4242424242424242", 12, now.year + 4, now)
            customer.default_payment_method_id = card.id
            subscription = demo._subscription_with_history(db.session, customer, price, card,
                                                           now, paid_invoices=6,
                                                           open_invoice=True)
            # Its renewal charge failed, as for the large seed's customers with an open
            # invoice: paying it makes the subscription active again (and raises that event).
            subscription.status = "past_due"
            if number % 100 == 99:
                db.session.commit()
        db.session.commit()
        db.engine.dispose()


def _copy_database(admin_uri: str, source: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    engine = create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 600
    while True:
        try:
            with engine.connect() as conn:
                # FILE_COPY: a 2 GB copy in seconds, not through the WAL.
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}" '
                                  "STRATEGY FILE_COPY"))
            break
        except OperationalError as error:
            # A template must have no other session: wait for whoever is still in it.
            if "being accessed by other users" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(5)
    engine.dispose()
    return make_url(admin_uri).set(database=name).render_as_string(hide_password=False)


WALKERS = """
WITH payable AS MATERIALIZED (
    -- The open invoice of a past-due subscription (each walk pays the same way), newest first.
    SELECT DISTINCT ON (c.id) c.id AS customer_id, c.email, c.default_payment_method_id AS card,
           i.id AS open_invoice
    FROM invoice i
    JOIN subscription s ON s.id = i.subscription_id AND s.status = 'past_due'
    JOIN customer c ON c.id = i.customer_id
    JOIN payment_method pm ON pm.id = c.default_payment_method_id
     AND pm.customer_id = c.id AND pm.detached_at IS NULL
    WHERE i.status = 'open' AND i.amount_due > 0 AND c.email IS NOT NULL AND NOT c.deleted
      AND NOT EXISTS (SELECT 1 FROM customer other WHERE other.id <> c.id
                      AND other.email_normalized = c.email_normalized)
    ORDER BY c.id, i.created DESC, i.id DESC
)
SELECT * FROM payable ORDER BY md5(customer_id) LIMIT :limit
"""


HISTORY = """
SELECT id FROM invoice WHERE customer_id = :customer
  AND status IN ('open', 'paid', 'void', 'uncollectible') ORDER BY created DESC, id DESC
"""


def _deep_index(total: int) -> int:
    """The deep page's cursor: after the 10th, 20th ... newest invoice, so the page shown is
    the oldest full page of ten; in a history of one page, after the newer half of it."""
    return ((total - 1) // 10) * 10 - 1 if total > 10 else max(total // 2, 1) - 1


def _prepare(dataset: DataSet, secret: str, limit: int, *, explain: bool) -> None:
    """Plan the walk's customers, count each route's queries in-process (and EXPLAIN them)."""
    from sqlalchemy import func, select, text

    from portal.customers.models import Customer
    from portal.extensions import db
    from portal.invoices.models import Invoice
    from portal.portal_settings.operations import activate_login_link

    app = _app(dataset.uri, secret)
    with app.app_context():
        dataset.customers = db.session.scalar(select(func.count()).select_from(Customer))
        dataset.invoices = db.session.scalar(select(func.count()).select_from(Invoice))
        dataset.link = activate_login_link(db.session, now=datetime.now(UTC)).id
        db.session.commit()
        rows = db.session.execute(text(WALKERS), {"limit": limit}).mappings().all()
        dataset.walkers = []
        for row in rows:
            history = db.session.scalars(text(HISTORY), {"customer": row["customer_id"]}).all()
            dataset.walkers.append({"email": row["email"], "card": row["card"],
                                    "open_invoice": row["open_invoice"],
                                    "deep_after": history[_deep_index(len(history))],
                                    "invoices": len(history)})
        db.session.remove()
        if not dataset.walkers:
            raise SystemExit(f"{dataset.name}: no customer with an open invoice and a card")
        counted = dataset.walkers.pop(0)  # walked in-process: its invoice is paid here
        dataset.queries, statements = _count_queries(app, dataset.link, counted)
        if explain:
            dataset.explained = _explain(app, statements)
            heaviest = _heaviest_customer(app)
            if heaviest:
                # The deepest page there is: the last of the customer with the most invoices.
                login = [name for name, *_ in ROUTES if name.startswith("login")]
                _, deep = _count_queries(app, dataset.link, heaviest,
                                         only=[*login, "invoices, a deep page"])
                dataset.explained[f"invoices, the last page of {heaviest['invoices']}"] = \
                    _explain(app, {"deep": deep["invoices, a deep page"]})["deep"]
        db.engine.dispose()


def _heaviest_customer(app) -> dict | None:
    """The customer with the most invoices, with the cursor of their last page."""
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        row = db.session.execute(text(
            "SELECT c.id, c.email, count(*) AS total FROM invoice i JOIN customer c"
            " ON c.id = i.customer_id WHERE i.status IN ('open', 'paid', 'void', 'uncollectible')"
            " AND c.email IS NOT NULL GROUP BY c.id, c.email ORDER BY total DESC LIMIT 1"
        )).mappings().first()
        if row is None or row["total"] <= 10:
            db.session.remove()
            return None
        position = ((row["total"] - 1) // 10) * 10
        cursor = db.session.execute(text(
            "SELECT id FROM invoice WHERE customer_id = :customer AND status IN"
            " ('open', 'paid', 'void', 'uncollectible') ORDER BY created DESC, id DESC"
            " OFFSET :skip LIMIT 1"), {"customer": row["id"], "skip": position - 1}).scalar_one()
        db.session.remove()
    return {"email": row["email"], "deep_after": cursor, "invoices": row["total"],
            "card": "", "open_invoice": ""}


def _count_queries(app, link: str, walker: dict, only=None) -> tuple[dict, dict]:
    """Each route's statements, walking one customer through the test client (a GET is sent
    twice and the second counted, as in steady state; a POST once); ``only`` some routes."""
    from sqlalchemy import event

    from portal.extensions import db

    captured: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters[0] if executemany else parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    client = app.test_client()
    counts, statements = {}, {}
    values = dict(walker, link=link)
    hidden: dict = {}
    pay_form: dict = {}
    try:
        for name, method, template, expected in ROUTES:
            if only is not None and name not in only:
                continue
            path = template.format(**values)
            if method == "GET":
                response = client.get(path)
                captured.clear()
                response = client.get(path)
                hidden = hidden_fields(response.get_data().decode(errors="replace"))
                if name == "an invoice":
                    pay_form = hidden
            else:
                captured.clear()
                data = {"csrf_token": hidden.get("csrf_token", "")}
                if name == "login: send the code":
                    data["email"] = walker["email"]
                elif name == "login: enter the code":
                    data["code"] = _code_for(app, walker["email"])
                    captured.clear()
                elif name == "billing edit: save":
                    data["phone"] = "+1 415 555 0142"
                elif name == "pay the invoice":
                    data.update(pay_form, payment_method=walker["card"])
                response = client.post(path, data=data)
            if response.status_code != expected:
                raise SystemExit(f"in-process {name}: {response.status_code}, not {expected}\n"
                                 + re.sub(r"\s+", " ", response.get_data().decode(errors="replace"))[:800])
            counts[name] = len(captured)
            statements[name] = list(captured)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return counts, statements


def _code_for(app, email: str) -> str:
    from sqlalchemy import text

    from portal.extensions import db
    from portal.outbox.sealing import unseal

    with app.app_context():
        payload = db.session.execute(text(
            "SELECT payload FROM outbox_message WHERE sent_at IS NULL AND kind = 'email' "
            "AND available_at >= now() - interval '1 minute' AND payload->>'to' = :to "
            "ORDER BY created DESC LIMIT 1"), {"to": email}).scalar_one()
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        code = unseal(payload["secret"])["code"]
        db.session.remove()
    return code


def _explain(app, statements: dict) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of each SELECT a route sent (plain EXPLAIN of its writes,
    which are not run twice): per route, (statement summary, scans, ms, buffers)."""
    from portal.extensions import db

    explained: dict = {}
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            for route, sent in statements.items():
                rows = []
                for statement, parameters in sent:
                    kind = statement.lstrip().split(None, 1)[0].upper()
                    if kind not in ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT"):
                        continue
                    options = "ANALYZE, BUFFERS, " if kind in ("SELECT", "WITH") else ""
                    cursor.execute(f"EXPLAIN ({options}FORMAT JSON) {statement}", parameters)
                    plan = cursor.fetchone()[0]
                    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                    rows.append((_summary(statement), _scans(plan["Plan"]),
                                 plan.get("Execution Time"), _buffers(plan["Plan"])))
                explained[route] = rows
            connection.rollback()
        finally:
            connection.close()
    return explained


def _summary(statement: str) -> str:
    """SELECT ... FROM invoice WHERE ...: the verb and the main table."""
    words = " ".join(statement.split())
    kind = words.split(" ", 1)[0].upper()
    if kind in ("SELECT", "WITH"):
        match = re.search(r"\bFROM (\w+)", words)
    elif kind == "INSERT":
        match = re.search(r"INTO (\w+)", words)
    elif kind == "UPDATE":
        match = re.search(r"UPDATE (\w+)", words)
    else:
        match = re.search(r"FROM (\w+)", words)
    return f"{kind} {match.group(1) if match else '?'}"


def _scans(plan: dict) -> list[str]:
    found = []
    node = plan.get("Node Type", "")
    if "Scan" in node and plan.get("Relation Name") or node == "Bitmap Index Scan":
        index = f" using {plan['Index Name']}" if plan.get("Index Name") else ""
        on = f" on {plan['Relation Name']}" if plan.get("Relation Name") else ""
        found.append(f"{node}{index}{on}")
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def _buffers(plan: dict) -> str:
    hit, read = plan.get("Shared Hit Blocks"), plan.get("Shared Read Blocks")
    return "" if hit is None else f"{hit + read} ({read} read)"


# ---- the servers and the load ---------------------------------------------------------------

def _start_servers(dataset: DataSet, secret: str, args, tmp: Path) -> list:
    """Two gunicorn instances on the data set's database, sharing Redis; returns them."""
    env = production_env(dataset.uri, tmp, args.redis, secret)
    env.update(LIMITS)
    env.update({"PORTAL_WORKER_MODE": "external",
                "PORTAL_RATELIMIT_KEY_PREFIX": f"load{os.getpid()}{dataset.name}"})
    ports = [free_port(), free_port()]
    servers = [start_gunicorn("portal:create_app()", port, args.workers, cwd=ROOT, env=env, log=tmp)
               for port in ports]
    for port in ports:
        wait_until_up(port, servers)
    dataset.hosts = [f"http://127.0.0.1:{port}" for port in ports]
    return servers


def _locust(dataset: DataSet, secret: str, seconds: int, users: int, prefix: Path,
            *, counted: bool) -> None:
    """Run locust for ``seconds`` on the data set's next customers; keep its samples."""
    from sqlalchemy.engine import make_url

    plan, samples = prefix.with_suffix(".json"), prefix.with_suffix(".samples.json")
    walkers = dataset.walkers[dataset.walked:]
    database = make_url(dataset.uri).set(drivername="postgresql")
    plan.write_text(json.dumps({
        "hosts": dataset.hosts, "link": dataset.link, "secret": secret, "customers": walkers,
        "database": database.render_as_string(hide_password=False)}))
    env = dict(os.environ, LOAD_PLAN=str(plan), LOAD_SAMPLES=str(samples), PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load_walk.py"),
               "--headless", "--users", str(users), "--spawn-rate", str(users),
               "--run-time", f"{seconds}s", "--stop-timeout", "60", "--host", dataset.hosts[0],
               "--only-summary", "--loglevel", "WARNING"]
    load_before = _load_average()
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if not samples.exists():
        raise SystemExit(f"locust failed ({result.returncode}):\n{result.stderr[-3000:]}")
    taken = json.loads(samples.read_text())
    started_walks = sum(1 for name, *_ in taken if name == ROUTES[0][0])
    dataset.walked += started_walks
    if started_walks >= len(walkers):
        print(f"  {dataset.name}: every planned customer walked before the time was up; "
              "raise --demo-customers / --walkers for a full run", file=sys.stderr)
    if not counted:
        return
    dataset.samples += taken
    dataset.seconds += elapsed
    dataset.walks += sum(1 for name, *_ in taken if name == ROUTES[-1][0])
    dataset.loads.append(f"{load_before} -> {_load_average()}")


def _load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _percentile(ordered: list, fraction: float) -> float:
    """Nearest rank: the smallest sample with at least ``fraction`` of them at or below it."""
    return ordered[max(0, min(len(ordered) - 1, int(-(-fraction * len(ordered) // 1)) - 1))]


def _route_stats(dataset: DataSet) -> dict:
    """Per route: requests, failures, p50/p95/p99 in ms, requests/s over the counted time."""
    by_route: dict = {}
    for name, milliseconds, error in dataset.samples:
        by_route.setdefault(name, []).append((milliseconds, error))
    stats = {}
    for name, rows in by_route.items():
        ordered = sorted(ms for ms, _ in rows)
        stats[name] = {"requests": len(rows), "failures": sum(1 for _, e in rows if e),
                       "p50": _percentile(ordered, 0.50), "p95": _percentile(ordered, 0.95),
                       "p99": _percentile(ordered, 0.99),
                       "rate": len(rows) / dataset.seconds if dataset.seconds else 0.0}
        errors = sorted({e for _, e in rows if e})
        if errors:
            print(f"  {dataset.name}: {name}: {stats[name]['failures']} failed: "
                  f"{'; '.join(errors)[:300]}", file=sys.stderr)
    return stats


# ---- the report ------------------------------------------------------------------------------

def _report(datasets: list[DataSet], args) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"\n{stamp}; {platform.node()}: {os.cpu_count()} CPUs, {memory:.0f} GiB, "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    print(f"2 gunicorn instances x {args.workers} sync workers per data set, PostgreSQL and "
          f"Redis shared; locust {args.users} browsers, no think time; {args.rounds} rounds "
          f"of {args.seconds} s per data set, alternating, after a {args.warmup} s warm-up")
    stats = {dataset.name: _route_stats(dataset) for dataset in datasets}
    for dataset in datasets:
        print(f"\n{dataset.name}: {dataset.customers:,} customers, {dataset.invoices:,} invoices; "
              f"{dataset.walks:,} customers walked in {dataset.seconds:.0f} s; load average "
              f"(1/5/15 min) per round {', '.join(dataset.loads)}")
        print(f"| {'Route':<22} | {'Requests':>8} | {'Fails':>5} | {'p50 ms':>6} | "
              f"{'p95 ms':>6} | {'p99 ms':>6} | {'Req/s':>5} | {'Queries':>7} |")
        print(f"| {'-' * 22} | {'-' * 7}: | {'-' * 4}: | {'-' * 5}: | {'-' * 5}: | "
              f"{'-' * 5}: | {'-' * 4}: | {'-' * 6}: |")
        for name, *_ in ROUTES:
            row = stats[dataset.name].get(name)
            if row is None:
                continue
            print(f"| {name:<22} | {row['requests']:>8,} | {row['failures']:>5} | "
                  f"{_ms(row['p50']):>6} | {_ms(row['p95']):>6} | {_ms(row['p99']):>6} | "
                  f"{row['rate']:>5.2f} | {dataset.queries.get(name, '?'):>7} |")
    by_name = {dataset.name: dataset for dataset in datasets}
    if {"demo", "large"} <= by_name.keys():
        demo, large = by_name["demo"], by_name["large"]
        print(f"\np99, large ({large.invoices:,} invoices) against demo ({demo.invoices:,}); "
              "goal: within 1.2x with the same queries (! where not)")
        print(f"| {'Route':<22} | {'demo p99':>8} | {'large p99':>9} | {'Ratio':>6} | "
              f"{'p50 ratio':>9} | {'Queries demo':>12} | {'Queries large':>13} |")
        print(f"| {'-' * 22} | {'-' * 7}: | {'-' * 8}: | {'-' * 5}: | {'-' * 8}: | "
              f"{'-' * 11}: | {'-' * 12}: |")
        for name, *_ in ROUTES:
            if name not in stats["demo"] or name not in stats["large"]:
                continue
            before, after = stats["demo"][name]["p99"], stats["large"][name]["p99"]
            ratio = after / before if before else float("nan")
            mark = "!" if name in GOAL_ROUTES and ratio > 1.2 else " "
            same = " " if demo.queries.get(name) == large.queries.get(name) else "!"
            middle = stats["large"][name]["p50"] / stats["demo"][name]["p50"]
            print(f"| {name:<22} | {_ms(before):>8} | {_ms(after):>9} | {ratio:>5.2f}{mark} | "
                  f"{middle:>9.2f} | {demo.queries.get(name, '?'):>12} | "
                  f"{large.queries.get(name, '?'):>12}{same} |")
    for dataset in datasets:
        if not dataset.explained:
            continue
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) at {dataset.name}, each query of the walk once "
              "(writes: plain EXPLAIN, not run); the slowest of repeated plans")
        for route, rows in dataset.explained.items():
            print(f"{route} ({len(rows)} statements):")
            # The same plan sent again (a row reloaded after a lock) is shown once, counted.
            seen: dict = {}
            for summary, scans, ms, buffers in rows:
                key = (summary, "; ".join(scans) or "no scan")
                times, count = seen.get(key, ([], 0))
                seen[key] = (times + [(ms, buffers)] if ms is not None else times, count + 1)
            for (summary, scans), (times, count) in seen.items():
                slowest = max(times, key=lambda t: t[0]) if times else None
                timing = (f"{slowest[0]:.2f} ms, {slowest[1]} buffers" if slowest
                          else "write: not run")
                times_sent = f" x{count}" if count > 1 else ""
                print(f"  {summary + times_sent:<26} {scans:<96} {timing}")


def _ms(value) -> str:
    value = float(value)
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
