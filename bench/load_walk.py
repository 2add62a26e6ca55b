"""The locustfile bench/load.py runs: customers signing in and walking their portal.

Not run by hand: bench/load.py writes the plan (the servers, the login link, the customers
with their open invoice and a deep page of history) and starts locust with LOAD_PLAN naming it.

Each simulated browser takes the next customer of the plan and signs them in through the
login link as a person does (the email, then the passcode, which it reads from the queued
email in the outbox and opens with the servers' secret key, as the worker would), then walks:
the overview, the first and a deep page of invoice history, the open invoice, its PDF, the
phone number form and a new number, paying the invoice with the saved card, signing out.
Then the next customer. Browsers alternate between the servers. Each request is one row of
locust's statistics; redirects are not followed, so a 303 is timed alone.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta

import psycopg
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from bench.load import hidden_fields

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: SIM115  (read once at import)
_hosts = itertools.cycle(PLAN["hosts"])
_customers = iter(PLAN["customers"])
_COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")
# Every request's time, exactly (locust's own statistics round them to 10 or 100 ms), for
# bench/load.py to put the rounds of a data set together.
_samples: list = []


@events.request.add_listener
def _record(name, response_time, exception=None, **_ignored):
    _samples.append((name, response_time, str(exception)[:200] if exception else None))


@events.quitting.add_listener
def _save(**_ignored):
    with open(os.environ["LOAD_SAMPLES"], "w") as handle:
        json.dump(_samples, handle)


def _fernet():
    from portal.outbox.sealing import _fernet as outbox_fernet

    return outbox_fernet(PLAN["secret"].encode())


class Customer(FastHttpUser):
    """One browser: a customer at a time, signed in, walked through, signed out."""

    wait_time = constant(0)

    def __init__(self, environment):
        # Half the browsers on each server: the host is fixed per browser, as with a sticky
        # load balancer (the session would work on either: both share the database).
        self.host = next(_hosts)
        super().__init__(environment)
        self.cookies: dict[str, str] = {}
        self.database = None
        self.fernet = _fernet()

    def on_stop(self):
        if self.database is not None:
            self.database.close()

    # ---- plumbing -------------------------------------------------------------------------

    def _send(self, method: str, path: str, name: str, expect: int, data=None) -> str:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        with self.client.request(method, path, name=name, data=data, headers=headers,
                                 allow_redirects=False, catch_response=True) as response:
            # The cookie is Secure (production) and the bench speaks plain HTTP on loopback,
            # so a cookie jar would never send it back: kept by hand.
            for header in response.headers.get_all("set-cookie") or []:
                match = _COOKIE.match(header)
                if match:
                    self.cookies[match.group(1)] = match.group(2)
            if response.status_code != expect:
                response.failure(f"{response.status_code}, not {expect}")
            return response.text or ""

    def _passcode(self, email: str, since: datetime) -> str:
        """The code of the sign-in email queued for ``email`` since ``since``."""
        if self.database is None:
            self.database = psycopg.connect(PLAN["database"], autocommit=True)
        for _ in range(50):
            row = self.database.execute(
                # ix_outbox_message_due (sent_at, available_at) finds this run's unsent rows.
                "SELECT payload FROM outbox_message WHERE sent_at IS NULL AND available_at >= %s"
                " AND kind = 'email' AND payload->>'to' = %s ORDER BY created DESC LIMIT 1",
                (since, email)).fetchone()
            if row:
                payload = row[0] if isinstance(row[0], dict) else json.loads(row[0])
                return json.loads(self.fernet.decrypt(payload["secret"].encode()))["code"]
            time.sleep(0.05)
        raise RuntimeError(f"no sign-in email for {email}")

    # ---- the walk -------------------------------------------------------------------------

    @task
    def walk(self):
        customer = next(_customers, None)
        if customer is None:
            raise StopUser()  # every planned customer walked: bench/load.py says so
        self.cookies.clear()
        link = f"/p/login/{PLAN['link']}"
        page = self._send("GET", link, "login: email page", 200)
        since = datetime.now(UTC) - timedelta(seconds=1)
        self._send("POST", link, "login: send the code", 303,
                   {"csrf_token": hidden_fields(page)["csrf_token"], "email": customer["email"]})
        page = self._send("GET", f"{link}/code", "login: code page", 200)
        code = self._passcode(customer["email"], since)
        self._send("POST", f"{link}/code", "login: enter the code", 303,
                   {"csrf_token": hidden_fields(page)["csrf_token"], "code": code})

        self._send("GET", "/p/", "overview", 200)
        self._send("GET", "/p/invoices", "invoices, page 1", 200)
        self._send("GET", f"/p/invoices?after={customer['deep_after']}",
                   "invoices, a deep page", 200)
        invoice = f"/p/invoices/{customer['open_invoice']}"
        page = self._send("GET", invoice, "an invoice", 200)
        pay_form = hidden_fields(page)
        self._send("GET", f"{invoice}/invoice.pdf", "its PDF", 200)
        page = self._send("GET", "/p/billing-information/phone", "billing edit: form", 200)
        self._send("POST", "/p/billing-information/phone", "billing edit: save", 303,
                   {"csrf_token": hidden_fields(page)["csrf_token"],
                    "phone": f"+1 415 555 {int(time.time() * 1000) % 10000:04d}"})
        self._send("POST", f"{invoice}/pay", "pay the invoice", 303,
                   {"csrf_token": pay_form["csrf_token"], "payment_method": customer["card"],
                    "idempotency_key": pay_form["idempotency_key"]})
        self._send("POST", "/p/sign-out", "sign out", 303,
                   {"csrf_token": pay_form["csrf_token"]})
