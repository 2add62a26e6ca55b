"""Several instances share one portal: two gunicorn servers (two workers each) and two
``flask --app portal worker`` processes on the test database and the shared Redis, in
production mode behind a (simulated) HTTPS proxy. Rate limits are counted once for all of
them, a sign-in made on one is valid on the other, and each email and periodic job is handled
once."""

from __future__ import annotations

import itertools
import os
import secrets
import uuid

import pytest
from sqlalchemy import select

from portal.outbox.models import OutboxMessage
from tests.conftest import SMTPRecorder
from tests.production.servers import (
    Browser,
    Gunicorn,
    Worker,
    free_port,
    portal_env,
    post_email,
    sign_in,
    wait_for,
)

PUBLIC_HOST = "billing.example.test"
LIMITS_REDIS = "redis://127.0.0.1:6379/6"
WORKER_REDIS = "redis://127.0.0.1:6379/5"
EMAILS_PER_IP = 4  # passcode emails one client IP may ask for, across every instance
NEVER = 86400  # seconds: a periodic job that does not come round during a test

# Deployed as production runs it: in the PostgreSQL run of the suite only (conftest.py).
pytestmark = pytest.mark.usefixtures("deployed_on_postgresql")


@pytest.fixture(scope="module")
def redis_client():
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(WORKER_REDIS)
    try:
        client.ping()
    except RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not running at {WORKER_REDIS} (CI starts it)")
    return client


def delete_keys(redis_url: str, marker: str) -> None:
    """Delete this module's keys only (the Redis is shared: never FLUSHALL): those named with
    ``marker``, and the jobs its queue and registries still name (their keys do not)."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"*{marker}*", count=1000))
    for key in keys:
        kind = client.type(key)
        members = (client.lrange(key, 0, -1) if kind == b"list" else
                   client.zrange(key, 0, -1) if kind == b"zset" else [])
        for job_id in members:
            if client.hget(b"rq:job:" + job_id, "origin") == marker.encode():
                client.delete(b"rq:job:" + job_id, b"rq:results:" + job_id)
    for key in keys:
        client.delete(key)
    client.srem("rq:queues", f"rq:queue:{marker}")


@pytest.fixture(scope="module")
def smtp():
    """A real SMTP server for the whole module; tests clear ``messages`` first."""
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder("127.0.0.1", free_port())
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port)
    controller.start()
    yield recorder
    controller.stop()


def production_settings(smtp, marker: str, **overrides) -> dict:
    """What every instance and worker of one deployment shares."""
    settings = {
        "ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "PUBLIC_URL": f"https://{PUBLIC_HOST}",
        "PROXY_FIX_X_FOR": 1,
        "MAIL_SERVER": smtp.host, "MAIL_PORT": smtp.port,
        "MAIL_DEFAULT_SENDER": "billing@acme.example",
        "RATELIMIT_STORAGE_URI": LIMITS_REDIS, "RATELIMIT_KEY_PREFIX": marker,
        "LOGIN_EMAIL_LIMIT_PER_IP": f"{EMAILS_PER_IP} per hour",
        "WORKER_MODE": "redis", "WORKER_REDIS_URL": WORKER_REDIS, "WORKER_QUEUE": marker,
        "OUTBOX_POLL_SECONDS": 1,
        # Each test empties the tables; a cached branding row would outlive its test.
        "SETTINGS_CACHE_SECONDS": 0,
    }
    settings.update(overrides)
    return settings


class Deployment:
    """Two web servers and two workers of one portal."""

    def __init__(self, settings: dict, webs: list[Gunicorn], workers: list[Worker]):
        self.settings, self.webs, self.workers = settings, webs, workers

    @property
    def queue(self) -> str:
        return self.settings["WORKER_QUEUE"]


def start_deployment(database_uri, instance, log_dir, settings, *, webs=2, workers=2):
    """Start the servers and workers together (they boot in parallel), then wait for each."""
    env = portal_env(database_uri, instance, **settings)
    web_servers = [Gunicorn(env, log_dir, health_host=PUBLIC_HOST) for _ in range(webs)]
    worker_processes = [Worker(env, log_dir) for _ in range(workers)]
    started = []
    try:
        for process in [*web_servers, *worker_processes]:
            process._spawn()
            started.append(process)
        for web in web_servers:
            web.wait_until_up()
        for worker in worker_processes:
            worker.wait_ready()
    except BaseException:
        for process in started:
            process.stop()
        raise
    return Deployment(settings, web_servers, worker_processes)


def stop_deployment(deployment: Deployment) -> None:
    """SIGTERM to every process at once, then wait for each."""
    processes = [*deployment.webs, *deployment.workers]
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


@pytest.fixture(scope="module")
def deployment(_schema, database_uri, redis_client, smtp, tmp_path_factory):
    """The two instances and two workers, for the whole module (each test uses client IPs
    of its own, so its rate-limit counts are its own)."""
    marker = f"portal-test-{uuid.uuid4().hex[:10]}"
    running = start_deployment(database_uri, tmp_path_factory.mktemp("shared-instance"),
                               tmp_path_factory.mktemp("logs"), production_settings(smtp, marker))
    yield running
    stop_deployment(running)
    delete_keys(LIMITS_REDIS, marker)
    delete_keys(WORKER_REDIS, marker)


@pytest.fixture
def app_config() -> dict:
    # Only the deployment's workers may deliver: this test process sends nothing.
    return {"WORKER_MODE": "external"}


@pytest.fixture
def link(session, now):
    """The merchant's active login link."""
    from portal.portal_settings.operations import activate_login_link, get_branding

    get_branding(session).business_name = "Acme Cloud"
    login_link = activate_login_link(session, now=now)
    session.commit()
    return login_link


_client_ips = itertools.count(1)


@pytest.fixture
def browsers():
    """``browsers(n)``: n browsers, each from a client IP no other test uses (so each test's
    rate-limit counts are its own)."""
    made: list[Browser] = []

    def make(count: int) -> list[Browser]:
        new = [Browser(host=PUBLIC_HOST, client_ip=f"10.0.{n // 250}.{n % 250 + 1}")
               for n in (next(_client_ips) for _ in range(count))]
        made.extend(new)
        return new

    yield make
    for browser in made:
        browser.close()


@pytest.fixture(autouse=True)
def _fresh_mailbox(smtp):
    with smtp.lock:
        smtp.messages.clear()


# ---- rate limits --------------------------------------------------------------------------------

def test_a_rate_limit_is_counted_once_across_both_instances(deployment, link, browsers):
    [browser] = browsers(1)
    first, second = deployment.webs
    statuses = [post_email(browser, (first, second)[i % 2], link.id,
                           f"someone-{i}@example.com").status_code
                for i in range(2 * EMAILS_PER_IP)]
    # Counted per process, each of the four gunicorn workers would allow the limit.
    assert statuses == [303] * EMAILS_PER_IP + [429] * EMAILS_PER_IP


# ---- sessions ------------------------------------------------------------------------------------

def test_a_sign_in_made_on_one_instance_is_valid_on_the_other_until_signed_out_there(
        deployment, link, browsers, make_customer, smtp):
    customer = make_customer(email="jenny.rosen@example.com")
    first, second = deployment.webs
    [browser] = browsers(1)
    sign_in(browser, first, link.id, smtp, customer.email)

    overview = browser.get("/p/", server=second)
    assert overview.status_code == 200
    assert customer.email in overview.text
    copied_cookies = dict(browser.cookies)

    response = browser.submit("/p/", "/p/sign-out", {}, server=second)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/p/signed-out")

    # The sign-in ended on the server: even the cookie as it was before opens nothing on A.
    thief = Browser(first, host=PUBLIC_HOST, client_ip=browser.client_ip)
    thief.cookies = copied_cookies
    try:
        answer = thief.get("/p/")
    finally:
        thief.close()
    assert answer.status_code == 303
    assert "/p/signed-out" in answer.headers["Location"]


# ---- the outbox and the schedule ------------------------------------------------------------------

def test_emails_asked_for_on_both_instances_are_each_sent_exactly_once_by_the_two_workers(
        deployment, link, browsers, make_customer, smtp, session, redis_client):
    from rq import Queue
    from rq.registry import StartedJobRegistry

    count = 6
    addresses = [f"customer-{i}@example.com" for i in range(count)]
    for address in addresses:
        make_customer(email=address, name=address.split("@")[0])
    for i, (browser, address) in enumerate(zip(browsers(count), addresses, strict=True)):
        assert post_email(browser, deployment.webs[i % 2], link.id, address).status_code == 303

    def all_sent() -> list[OutboxMessage]:
        session.expire_all()
        rows = session.scalars(select(OutboxMessage)).all()
        return rows if len(rows) == count and all(r.sent_at for r in rows) else []

    rows = wait_for(all_sent, what="every email to be marked sent")
    # Then give both workers another round of the periodic delivery job, in which a second
    # sender would show up.
    queue = Queue(deployment.queue, connection=redis_client)
    rounds = lambda: set(redis_client.scan_iter(f"{deployment.queue}:schedule:deliver-outbox:*"))  # noqa: E731
    seen = rounds()
    wait_for(lambda: rounds() - seen and queue.count == 0
             and StartedJobRegistry(queue=queue).count == 0, what="another delivery round")

    with smtp.lock:
        received = list(smtp.messages)
    assert sorted(m["To"] for m in received) == sorted(addresses)
    assert sorted(m["Message-ID"] for m in received) == sorted(
        f"<{row.id}@{PUBLIC_HOST}>" for row in rows)
    assert all(row.attempts <= 1 for row in rows)


def test_a_periodic_job_runs_once_per_period_however_many_workers_tick(
        _schema, database_uri, redis_client, smtp, tmp_path):
    from rq import Worker as RQWorker

    marker = f"portal-test-{uuid.uuid4().hex[:10]}"
    # Billing every second; housekeeping off; the outbox's safety net once (a day).
    settings = production_settings(smtp, marker, BILLING_RUN_INTERVAL_SECONDS=1,
                                   HOUSEKEEPING_INTERVAL_SECONDS=0, OUTBOX_POLL_SECONDS=NEVER)
    workers_only = start_deployment(database_uri, tmp_path / "instance", tmp_path / "logs",
                                    settings, webs=0)
    try:
        claims: set[bytes] = set()

        def claimed() -> set[bytes]:
            # Claims expire after a few periods: collect them as they appear.
            claims.update(redis_client.scan_iter(f"{marker}:schedule:*"))
            return claims

        def billing_periods() -> int:
            return sum(b":billing-run:" in key for key in claimed())

        names = {worker.rq_name for worker in workers_only.workers}

        def jobs_run() -> dict[str, int]:
            return {w.name: w.successful_job_count + w.failed_job_count
                    for w in RQWorker.all(connection=redis_client) if w.name in names}

        def details() -> str:
            logs = "\n".join(worker.output[-2000:] for worker in workers_only.workers)
            return f"claimed {sorted(claimed())}, run {jobs_run()}\n{logs}"

        wait_for(lambda: billing_periods() >= 4, timeout=60, what="four billing periods")
        # One run for each claimed period (the billing runs and the outbox's one round):
        # two workers each running every period would make it twice as many.
        try:
            wait_for(lambda: sum(jobs_run().values()) == len(claimed()), timeout=60,
                     what="one run per claimed period")
        except AssertionError as error:
            raise AssertionError(f"{error}: {details()}") from None
        owners = {redis_client.get(key).decode() for key in claims if redis_client.exists(key)}
        assert owners <= names
    finally:
        stop_deployment(workers_only)
        delete_keys(LIMITS_REDIS, marker)
        delete_keys(WORKER_REDIS, marker)
