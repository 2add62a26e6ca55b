"""The billing engine at scale: two ``flask --app portal billing run`` processes renew the
150,000 subscriptions of the large seed at once, checked by SQL afterwards to have renewed
each exactly once, next to a bare bulk INSERT of the same rows as the limit.

Prints the renewals per second of the engine and of the bulk INSERT and their ratio; asserts
nothing, but says FAILED (and exits 1) when a SQL check finds a subscription renewed twice or
missed, a period invoiced twice, or an invoice charged twice.

    createdb -h 127.0.0.1 -U postgres bench_billing
    PORTAL_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://postgres@127.0.0.1:5432/bench_billing \\
        .venv/bin/flask --app portal db upgrade
    .venv/bin/python bench/billing_scale.py \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_billing \\
        [--scale 1.0] [--due 1.0] [--workers 2] [--now 2026-12-03T00:00:00Z] [--no-seed]

The database is emptied and seeded again (bench/seed_large.py --due SHARE: that share of the
subscriptions live with its period ending at --now, default all) unless --no-seed, which bills
what is there. The workers
charge through the built-in test gateway (PORTAL_PAYMENT_GATEWAY's default), whose seeded
cards all succeed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLASK = str(Path(sys.executable).with_name("flask"))
# Tables the engine writes to, and how many rows it added to each, for the bulk INSERT.
WRITTEN = ("invoice", "invoice_line", "payment", "audit_event", "webhook_event", "outbox_message",
           "customer_balance_transaction")


def connect(database: str):
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database)
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                           password=url.password, dbname=url.database)


def counts(conn, tables) -> dict[str, int]:
    """Exact row counts of ``tables``."""
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in tables}


def run_workers(database: str, now: datetime, workers: int, instance: Path,
                profile: Path | None = None) -> tuple[float, list[subprocess.CompletedProcess]]:
    """Start ``workers`` billing runs at once; the seconds until the last one ended."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_SQLALCHEMY_DATABASE_URI": database,
                "PORTAL_SECRET_KEY": "billing-scale-bench-secret-key-0123456789abcdef",
                "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_MAIL_BACKEND": "console",
                "PYTHONPATH": str(ROOT)})
    logs = [(instance / f"worker-{n}.out", instance / f"worker-{n}.err")
            for n in range(workers)]
    started = time.perf_counter()
    processes = []
    for n, (out, err) in enumerate(logs):
        command = [FLASK, "--app", "portal", "billing", "run", "--now", now.isoformat()]
        if profile is not None and n == 0:
            command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "flask",
                       *command[1:]]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out.open("w"),
                                          stderr=err.open("w")))
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    results = [subprocess.CompletedProcess(p.args, p.returncode, out.read_text(),
                                           err.read_text())
               for p, (out, err) in zip(processes, logs, strict=True)]
    return elapsed, results


CHECKS = (
    ("due subscriptions not moved to the new period",
     "SELECT count(*) FROM due_before d JOIN subscription s ON s.id = d.id "
     "WHERE s.current_period_start <> %(now)s"),
    ("due subscriptions with no invoice for the new period",
     "SELECT count(*) FROM due_before d WHERE NOT EXISTS (SELECT 1 FROM invoice i "
     "WHERE i.subscription_id = d.id AND i.period_start = %(now)s)"),
    ("subscriptions with more than one invoice for the new period",
     "SELECT count(*) FROM (SELECT subscription_id FROM invoice WHERE period_start = %(now)s "
     "GROUP BY subscription_id HAVING count(*) > 1) twice"),
    ("subscriptions renewed that were not due",
     "SELECT count(*) FROM invoice i WHERE i.created >= %(now)s AND NOT EXISTS "
     "(SELECT 1 FROM due_before d WHERE d.id = i.subscription_id)"),
    ("subscriptions moved more than one period",
     "SELECT count(*) FROM invoice WHERE period_start > %(now)s"),
    ("invoices with more than one successful payment",
     "SELECT count(*) FROM (SELECT invoice_id FROM payment WHERE status = 'succeeded' "
     "GROUP BY invoice_id HAVING count(*) > 1) twice"),
    ("new invoices with more than one payment attempt",
     "SELECT count(*) FROM (SELECT p.invoice_id FROM payment p JOIN invoice i "
     "ON i.id = p.invoice_id WHERE i.period_start = %(now)s GROUP BY p.invoice_id "
     "HAVING count(*) > 1) twice"),
    ("new invoices not paid",
     "SELECT count(*) FROM invoice WHERE period_start = %(now)s AND status <> 'paid'"),
    ("payments left processing",
     "SELECT count(*) FROM payment WHERE status = 'processing'"),
)


def bulk_insert(conn, now: datetime) -> tuple[float, dict[str, int]]:
    """The limit: the rows the engine wrote (invoices, lines, payments, events, the subscription
    period updates) written again by plain INSERT ... SELECT in one transaction, then rolled
    back. Copies with fresh keys, so every unique index is checked as the engine's were."""
    started = time.perf_counter()
    written = {}
    with conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bulk_invoice ON COMMIT DROP AS "
                       "SELECT id FROM invoice WHERE period_start = %(now)s", {"now": now})
        statements = {
            "invoice": """
                INSERT INTO invoice (id, number, customer_id, subscription_id, status, currency,
                    billing_reason, collection_method, description, subtotal, total_discount,
                    tax, total, amount_due, amount_paid, period_start, period_end, due_date,
                    created, finalized_at, paid_at, voided_at, marked_uncollectible_at,
                    attempt_count, next_payment_attempt, customer_snapshot, metadata,
                    creation_key, starting_balance, ending_balance)
                SELECT i.id || 'b', i.number || 'b', customer_id, subscription_id, status,
                    currency, billing_reason, collection_method, description, subtotal,
                    total_discount, tax, total, amount_due, amount_paid, period_start,
                    period_end, due_date, created, finalized_at, paid_at, voided_at,
                    marked_uncollectible_at, attempt_count, next_payment_attempt,
                    customer_snapshot, metadata, creation_key || ':bulk', starting_balance,
                    ending_balance
                FROM invoice i JOIN bulk_invoice b ON b.id = i.id""",
            "invoice_line": """
                INSERT INTO invoice_line (id, invoice_id, position, description, price_id,
                    subscription_item_id, quantity, unit_amount, amount, discount_amount,
                    tax_amount, tax_rate_id, period_start, period_end, proration)
                SELECT l.id || 'b', l.invoice_id || 'b', position, description, price_id,
                    subscription_item_id, quantity, unit_amount, amount, discount_amount,
                    tax_amount, tax_rate_id, period_start, period_end, proration
                FROM invoice_line l JOIN bulk_invoice b ON b.id = l.invoice_id""",
            "payment": """
                INSERT INTO payment (id, idempotency_key, customer_id, invoice_id,
                    payment_method_id, amount, currency, status, failure_code,
                    failure_message, processor_reference, created, completed_at)
                SELECT p.id || 'b', idempotency_key || ':bulk', customer_id,
                    p.invoice_id || 'b', payment_method_id, amount, currency, status,
                    failure_code, failure_message, processor_reference, created, completed_at
                FROM payment p JOIN bulk_invoice b ON b.id = p.invoice_id""",
            "audit_event": """
                INSERT INTO audit_event (id, type, customer_id, actor, object_id, ip_address,
                    data, created)
                SELECT id || 'b', type, customer_id, actor, object_id, ip_address, data,
                    created
                FROM audit_event WHERE created = %(now)s""",
            "webhook_event": """
                INSERT INTO webhook_event (id, type, object_id, customer_id, created, body)
                SELECT id || 'b', type, object_id, customer_id, created, body
                FROM webhook_event WHERE created = %(now)s""",
            "subscription (period moved)": """
                UPDATE subscription SET current_period_start = current_period_end,
                    current_period_end = current_period_end + interval '1 month',
                    version = version + 1, updated = %(now)s
                WHERE current_period_start = %(now)s""",
        }
        for table, sql in statements.items():
            cursor.execute(sql, {"now": now})
            written[table] = cursor.rowcount
    elapsed = time.perf_counter() - started
    conn.rollback()
    return elapsed, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--due", type=float, default=1.0,
                        help="the share of the subscriptions due at --now (1.0: all of them; "
                             "0.02: every 50th, on a database of the full size)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--now", default="2026-12-03T00:00:00+00:00")
    parser.add_argument("--no-seed", action="store_true", help="bill the database as it is")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write the first worker's cProfile statistics here")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")).astimezone(UTC)

    from bench.seed_large import seed_database

    if not args.no_seed:
        mark = time.perf_counter()
        seed_database(args.database, scale=args.scale, seed_value=args.seed, now=now,
                      due=args.due, reset=True, out=lambda *a, **k: None)
        print(f"seeded (--due {args.due:g}, --scale {args.scale:g}) in "
              f"{time.perf_counter() - mark:.0f} s", file=sys.stderr)

    conn = connect(args.database)
    # Which subscriptions were due, kept for the checks (a temporary table: this session's).
    conn.execute("CREATE TEMP TABLE due_before AS SELECT id FROM subscription "
                 "WHERE ended_at IS NULL AND current_period_end <= %s", (now,))
    due = conn.execute("SELECT count(*) FROM due_before").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM subscription").fetchone()[0]
    invoices = conn.execute("SELECT count(*) FROM invoice").fetchone()[0]
    before = counts(conn, WRITTEN)
    conn.commit()

    with tempfile.TemporaryDirectory() as instance:
        elapsed, results = run_workers(args.database, now, args.workers, Path(instance),
                                       args.profile)
    after = counts(conn, WRITTEN)
    conn.rollback()
    failed = False
    for n, result in enumerate(results):
        lines = result.stdout.strip().splitlines()
        print(f"worker {n + 1} (exit {result.returncode}): {lines[-1] if lines else ''}")
        if result.returncode != 0:
            failed = True
            print(result.stderr[-3000:], file=sys.stderr)

    print()
    print("| SQL check afterwards | rows |")
    print("|---|---:|")
    renewed = conn.execute("SELECT count(*) FROM due_before d JOIN subscription s "
                           "ON s.id = d.id WHERE s.current_period_start = %s",
                           (now,)).fetchone()[0]
    print(f"| subscriptions in the database / invoices | {total:,} / {invoices:,} |")
    print(f"| subscriptions due at {now:%Y-%m-%d %H:%M} UTC | {due:,} |")
    print(f"| subscriptions renewed to the new period | {renewed:,} |")
    for label, sql in CHECKS:
        found = conn.execute(sql, {"now": now}).fetchone()[0]
        failed |= found != 0
        print(f"| {label} | {found:,}{' FAILED' if found else ''} |")
    conn.rollback()
    failed |= renewed != due

    bulk_seconds, bulk_rows = bulk_insert(conn, now)
    conn.close()

    print()
    print("| rows written | by the engine | by the bulk INSERT |")
    print("|---|---:|---:|")
    for table in WRITTEN:
        added = after[table] - before[table]
        if added or table in bulk_rows:
            print(f"| {table} | {added:,} | {bulk_rows.get(table, 0):,} |")
    print(f"| subscription (period moved) | {renewed:,} | "
          f"{bulk_rows['subscription (period moved)']:,} |")
    print()
    engine_rate = renewed / elapsed if elapsed else 0.0
    bulk_rate = renewed / bulk_seconds if bulk_seconds else 0.0
    print(f"| {args.workers} workers, {renewed:,} subscriptions | seconds | renewals/s |")
    print("|---|---:|---:|")
    print(f"| billing engine ({args.workers} `flask billing run` processes) | {elapsed:,.1f} | "
          f"{engine_rate:,.1f} |")
    print(f"| bare bulk INSERT ... SELECT of the same rows (the limit) | {bulk_seconds:,.1f} | "
          f"{bulk_rate:,.0f} |")
    if engine_rate:
        print(f"\nthe engine runs at 1/{bulk_rate / engine_rate:,.0f} of the bulk INSERT's rate")
    if failed:
        print("\nFAILED: see the checks above")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
