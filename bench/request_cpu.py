"""CPU time per request of each customer page, in-process (Flask's test client, SQLite).

Prints one line per page: milliseconds of this process's CPU per request, the mean of
``--requests`` requests after a warm-up. CPU time, not wall time, so other work on the machine
moves the figures far less than it moves bench/throughput.py's; it leaves out the database
server's share and gunicorn's. Asserts nothing. The demo (Acme Cloud) is seeded into a scratch
SQLite file; customer pages are fetched as Jenny, signed in, with the production settings cache.

    .venv/bin/python bench/request_cpu.py [--requests 200] [--profile overview]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per page (default 200)")
    parser.add_argument("--profile", help="a page name: print its cProfile, by own time")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="request-cpu-")
    os.environ["PORTAL_INSTANCE_PATH"] = tmp

    from bench.demo_data import seed_signed_in_demo
    from portal import create_app
    from portal.customers.auth import SESSION_KEY
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/portal.db",
                      "SECRET_KEY": os.urandom(32).hex(), "MAIL_BACKEND": "smtp",
                      "MAIL_SUPPRESS_SEND": True, "SETTINGS_CACHE_SECONDS": 5,
                      # No outbox threads polling beside the requests measured.
                      "WORKER_MODE": "external"})
    with app.app_context():
        demo = seed_signed_in_demo()
        link_id, invoice_id, token = demo.link_id, demo.invoice_id, demo.token
        db.session.remove()

    client, anonymous = app.test_client(), app.test_client()
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = token
        cookie.permanent = True
    pages = {
        "signed out": (anonymous, "/p/signed-out"),
        "login (email step)": (anonymous, f"/p/login/{link_id}"),
        "overview": (client, "/p/"),
        "billing information": (client, "/p/billing-information"),
        "payment methods": (client, "/p/payment-methods"),
        "add a card": (client, "/p/payment-methods/new"),
        "invoice history": (client, "/p/invoices"),
        "invoice (open)": (client, f"/p/invoices/{invoice_id}"),
    }
    print(f"| {'Page':<20} | {'CPU ms/request':>14} |")
    print(f"| {'-' * 20} | {'-' * 13}:|")
    for name, (browser, path) in pages.items():
        if browser.get(path).status_code != 200:
            print(f"{name}: {path} did not answer 200", file=sys.stderr)
            return 1
        for _ in range(20):
            browser.get(path)
        started = time.process_time()
        for _ in range(args.requests):
            browser.get(path)
        spent = (time.process_time() - started) / args.requests * 1000
        print(f"| {name:<20} | {spent:>14.2f} |")
    if args.profile:
        browser, path = pages[args.profile]
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            browser.get(path)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
