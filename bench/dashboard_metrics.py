"""How long the dashboard's 12-month numbers take for a business of a given size.

Builds a throwaway database (a temporary SQLite file, or ``--uri`` for an empty PostgreSQL
database you made for it: its tables are created and dropped), fills it with customers,
subscriptions (monthly and yearly, some with coupons, some canceled, some trialing) and
payments spread over 14 months, then prints the wall time of ``monthly_metrics`` (the mean of
``--repeat`` runs after a warm-up) and the number of queries it sends. Asserts nothing.

    .venv/bin/python bench/dashboard_metrics.py [--subscriptions 5000] [--payments 50000]
        [--repeat 5] [--uri postgresql+psycopg://postgres@127.0.0.1:5432/bench_dashboard]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill(session, *, subscriptions: int, payments: int, now: datetime) -> None:
    """Rows in bulk (the ORM's insert of dicts), with fixed ids so it takes seconds."""
    from portal.catalog.models import Coupon, Price, Product
    from portal.customers.models import Customer
    from portal.payments.models import Payment
    from portal.subscriptions.models import Subscription, SubscriptionItem

    rng = random.Random(9)
    start = now - timedelta(days=430)
    session.add(Product(id="prod_bench", name="Bench", active=True, created=start, metadata_={}))
    plans = [("price_m", 2900, "usd", "month"), ("price_y", 29000, "usd", "year"),
             ("price_w", 700, "usd", "week"), ("price_e", 2500, "eur", "month")]
    for price_id, amount, currency, interval in plans:
        session.add(Price(id=price_id, product_id="prod_bench", unit_amount=amount,
                          currency=currency, recurring_interval=interval,
                          recurring_interval_count=1, active=True, created=start, metadata_={}))
    session.add(Coupon(id="co_bench", name="Half", percent_off=Decimal(50), duration="forever",
                       active=True, created=start, metadata_={}))
    session.flush()
    customers = max(subscriptions // 2, 1)
    session.execute(Customer.__table__.insert(), [
        {"id": f"cus_b{n}", "email": f"c{n}@example.com", "email_normalized": f"c{n}@example.com",
         "name": f"Customer {n}", "preferred_locales": [], "balance": 0, "deleted": False,
         "created": start, "metadata": {}} for n in range(customers)])
    subs, items = [], []
    for n in range(subscriptions):
        created = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
        price_id, _, currency, _ = plans[n % len(plans)]
        status = rng.choice(["active"] * 6 + ["past_due", "canceled", "canceled", "trialing"])
        ended = created + timedelta(days=rng.randrange(1, 300)) if status == "canceled" else None
        if ended and ended > now:
            ended = now - timedelta(hours=1)
        subs.append({"id": f"sub_b{n}", "customer_id": f"cus_b{n % customers}", "status": status,
                     "currency": currency, "current_period_start": created,
                     "current_period_end": created + timedelta(days=30), "created": created,
                     "ended_at": ended, "canceled_at": ended,
                     "trial_end": now + timedelta(days=5) if status == "trialing" else None,
                     "discount_coupon_id": "co_bench" if n % 10 == 0 else None,
                     "cancel_at_period_end": False, "collection_method": "charge_automatically",
                     "metadata": {}, "version": 1})
        items.append({"id": f"si_b{n}", "subscription_id": f"sub_b{n}", "price_id": price_id,
                      "quantity": 1 + n % 3, "created": created})
    session.execute(Subscription.__table__.insert(), subs)
    session.execute(SubscriptionItem.__table__.insert(), items)
    rows = []
    for n in range(payments):
        created = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
        status = "failed" if n % 9 == 0 else "succeeded"
        rows.append({"id": f"py_b{n}", "idempotency_key": f"bench:{n}",
                     "customer_id": f"cus_b{n % customers}", "amount": 2900,
                     "currency": "eur" if n % 4 == 3 else "usd", "status": status,
                     "created": created, "completed_at": created + timedelta(seconds=2)})
    session.execute(Payment.__table__.insert(), rows)
    session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=5000)
    parser.add_argument("--payments", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--uri", help="an empty database to use instead of a SQLite file")
    args = parser.parse_args()

    from sqlalchemy import event

    from portal import create_app
    from portal.extensions import db
    from portal.reporting.metrics import monthly_metrics

    with tempfile.TemporaryDirectory() as folder:
        uri = args.uri or f"sqlite:///{folder}/bench.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench-" + "x" * 40,
                          "WORKER_MODE": "external", "TESTING": True})
        with app.app_context():
            db.drop_all()
            db.create_all()
            now = datetime.now(UTC).replace(microsecond=0)
            began = time.perf_counter()
            fill(db.session, subscriptions=args.subscriptions, payments=args.payments, now=now)
            print(f"filled {args.subscriptions} subscriptions and {args.payments} payments "
                  f"on {db.engine.dialect.name} in {time.perf_counter() - began:.1f} s")
            statements = []
            event.listen(db.engine, "before_cursor_execute",
                         lambda *a: statements.append(a[2]))
            monthly_metrics(db.session, now=now)  # warm-up
            statements.clear()
            times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                metrics = monthly_metrics(db.session, now=now)
                times.append(time.perf_counter() - began)
                db.session.rollback()
            queries = len(statements) // max(args.repeat, 1)
            print(f"monthly_metrics: {sum(times) / len(times) * 1000:.0f} ms a run "
                  f"(best {min(times) * 1000:.0f} ms), {queries} queries")
            for series in metrics.currencies:
                print(f"  {series.currency}: MRR now {series.current.mrr}, "
                      f"{series.current.active_subscriptions} active")
            db.drop_all()
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
