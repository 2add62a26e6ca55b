"""portal/gunicorn_conf.py: the settings it gives gunicorn, and the real server run with it:
probes, JSON access lines with the request id, and metrics added up across workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from portal.config import gunicorn_workers
from tests.outbox.conftest import free_port
from tests.production.ops_support import stamped, value

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-for-tests-Z8qv2Lr7pW1xN4mB6cT9"
PAGE = "/p/signed-out"


def conf_values(**env) -> dict:
    """What gunicorn reads from the config module under ``env`` (a fresh interpreter, as
    gunicorn's master imports it)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("PORTAL_") and k not in ("WEB_CONCURRENCY", "PORT")}
    clean.update(env)
    script = ("import json, portal.gunicorn_conf as c; print(json.dumps({name: getattr(c, name)"
              " for name in ('bind', 'workers', 'threads', 'timeout', 'graceful_timeout',"
              " 'keepalive', 'worker_tmp_dir', 'accesslog')}))")
    result = subprocess.run([sys.executable, "-c", script], env=clean, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


# ---- the settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("cpus, expected", [(1, 3), (2, 5), (8, 17)])
def test_workers_are_two_per_cpu_plus_one(cpus, expected):
    assert gunicorn_workers(environ={}, cpus=cpus) == expected


@pytest.mark.parametrize("env, expected", [
    ({"WEB_CONCURRENCY": "3"}, 3),
    ({"PORTAL_GUNICORN_WORKERS": "2", "WEB_CONCURRENCY": "6"}, 2),
    ({"PORTAL_GUNICORN_WORKERS": "0"}, None),  # not a count: the CPUs decide
])
def test_the_worker_count_can_be_set(env, expected):
    assert gunicorn_workers(environ=env, cpus=2) == (expected or 5)


def test_the_defaults_suit_a_server_behind_a_proxy():
    values = conf_values()
    assert values["bind"] == ["127.0.0.1:8000"]
    assert values["workers"] == gunicorn_workers(environ={})
    assert (values["threads"], values["timeout"], values["graceful_timeout"],
            values["keepalive"]) == (4, 30, 30, 5)
    assert values["worker_tmp_dir"] == ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    assert values["accesslog"] == "-"


def test_the_platforms_port_and_the_portals_settings_are_read():
    assert conf_values(PORT="5001")["bind"] == ["0.0.0.0:5001"]
    values = conf_values(PORTAL_BIND="127.0.0.1:9001, unix:/run/portal.sock", PORT="5001",
                         PORTAL_GUNICORN_THREADS="8", PORTAL_GUNICORN_TIMEOUT="60")
    assert values["bind"] == ["127.0.0.1:9001", "unix:/run/portal.sock"]
    assert (values["threads"], values["timeout"]) == (8, 60)


def test_a_setting_that_is_not_a_number_stops_gunicorn_with_one_line():
    with pytest.raises(subprocess.CalledProcessError) as failed:
        conf_values(PORTAL_GUNICORN_TIMEOUT="thirty")
    assert "PORTAL_GUNICORN_TIMEOUT must be a number" in failed.value.stderr


# ---- the real server ------------------------------------------------------------------------

def get(url: str, **headers) -> tuple[int, dict, str]:
    """One request on a connection of its own."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


class Gunicorn:
    """``gunicorn -c python:portal.gunicorn_conf wsgi:app`` as a process, its output in files."""

    def __init__(self, env: dict, folder: Path):
        self.stdout, self.stderr = folder / "stdout.log", folder / "stderr.log"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:portal.gunicorn_conf",
             "wsgi:app"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=self.stdout.open("w"), stderr=self.stderr.open("w"))

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def access_lines(self) -> list[dict]:
        lines = []
        for text in self.stdout.read_text().splitlines():
            if text.startswith("{"):
                line = json.loads(text)
                if line.get("logger") == "gunicorn.access":
                    lines.append(line)
        return lines

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def gunicorn(deployed_on_postgresql, app, database_uri, tmp_path):
    """The portal under gunicorn with two workers, in production, on the suite's database
    (marked migrated), metrics on in multiprocess mode; in the PostgreSQL run only."""
    if not Path(sys.executable).with_name("gunicorn").exists():
        pytest.skip("gunicorn is not installed (pip install -e '.[test]' brings it)")
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PORTAL_") and k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update(PORTAL_ENV="production", PORTAL_SECRET_KEY=GOOD_KEY,
               PORTAL_PUBLIC_URL="https://billing.example.com",
               PORTAL_SQLALCHEMY_DATABASE_URI=database_uri,
               PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
               PORTAL_RATELIMIT_ENABLED="false", PORTAL_WORKER_MODE="external",
               PORTAL_METRICS_ENABLED="true", PORTAL_GUNICORN_WORKERS="2",
               PORTAL_BIND=f"127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
               PYTHONUNBUFFERED="1")
    with stamped(app):
        server = Gunicorn(env, tmp_path)
        server.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    if get(server.url + "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if server.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start:\n" + server.output())
                time.sleep(0.2)
            yield server
        finally:
            server.stop()


def test_gunicorn_with_the_portals_config_serves_probes_logs_and_metrics(gunicorn):
    # Probes reach the process by its address, as a load balancer does (not a trusted host).
    status, _, body = get(gunicorn.url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = get(gunicorn.url + "/readyz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"

    status, headers, _ = get(gunicorn.url + PAGE, Host="billing.example.com",
                             **{"X-Request-Id": "req-gunicorn-1"})
    assert status == 200 and headers["X-Request-Id"] == "req-gunicorn-1"

    # More of the same page, each on a new connection, until both workers have served some
    # (bounded: the kernel hands connections to whichever worker accepts first).
    made = 1
    while made < 200:
        assert get(gunicorn.url + PAGE, Host="billing.example.com")[0] == 200
        made += 1
        pids = {line["pid"] for line in gunicorn.access_lines() if line["route"] == PAGE}
        if made >= 10 and len(pids) == 2:
            break
    print(f"{made} requests to {PAGE}, served by workers {sorted(pids)}")

    exposition = get(gunicorn.url + "/metrics")[2]
    counted = value(exposition, "portal_http_request_duration_seconds_count", route=PAGE,
                    method="GET", status="2xx")
    assert counted == made, "the scrape adds up every worker's requests"
    assert len(pids) == 2, "one worker served every request"

    [line] = [line for line in gunicorn.access_lines() if line["request_id"] == "req-gunicorn-1"]
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET", PAGE, PAGE, 200)
    assert isinstance(line["duration_ms"], float) and line["level"] == "INFO"
    assert line["message"] == f"GET {PAGE} 200"
    assert "Traceback" not in gunicorn.output()
