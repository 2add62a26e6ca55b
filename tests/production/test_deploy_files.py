"""The deployment files (Dockerfile, docker-compose.yml, deploy/systemd/) are valid and agree
with each other and with the portal: what an operator copies must start the right things."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.production import compose_check

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.glob("*.service")) + sorted(
    p.name for p in SYSTEMD.glob("*.timer"))
INSTANCE = "/srv/portal/instance"
WEB_COMMAND = ["gunicorn", "-c", "python:portal.gunicorn_conf", "wsgi:app"]
WORKER_COMMAND = ["flask", "--app", "portal", "worker"]
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$")
REFERENCE = re.compile(r"^\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_check.load(COMPOSE)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


# ---- docker-compose.yml ------------------------------------------------------------------------

def test_the_compose_file_is_valid_against_the_compose_specification():
    assert compose_check.problems(COMPOSE) == []


def test_the_schema_check_finds_a_mistake_in_a_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    health_check:\n", 1))
    assert any("health_check" in problem for problem in compose_check.problems(broken))


def test_the_compose_file_runs_the_app_the_worker_postgresql_and_redis(compose):
    assert {"app", "worker", "postgres", "redis", "migrate"} <= set(compose["services"])
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


def test_the_app_and_the_worker_run_the_same_image_with_the_same_settings(compose):
    app, worker, migrate = (compose["services"][name] for name in ("app", "worker", "migrate"))
    assert app["image"] == worker["image"] == migrate["image"]
    assert app["build"] == worker["build"] == migrate["build"]
    assert {k: v for k, v in app["environment"].items() if k != "PORTAL_BIND"} \
        == worker["environment"] == migrate["environment"]
    assert app["volumes"] == worker["volumes"] == [f"instance:{INSTANCE}"], \
        "template overrides and uploads must be the same folder for both"
    assert app["command"] == WEB_COMMAND
    assert worker["command"] == WORKER_COMMAND


def test_the_portal_runs_in_production_with_redis_for_limits_and_the_worker(compose):
    environment = compose["services"]["app"]["environment"]
    assert environment["PORTAL_ENV"] == "production"
    assert environment["PORTAL_WORKER_MODE"] == "redis"
    assert environment["PORTAL_RATELIMIT_STORAGE_URI"].startswith("redis://redis:")
    assert environment["PORTAL_WORKER_REDIS_URL"].startswith("redis://redis:")
    assert environment["PORTAL_SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert environment["PORTAL_SQLALCHEMY_DATABASE_URI"].endswith("@postgres:5432/portal")


def test_the_schema_is_upgraded_before_the_app_and_the_worker_start(compose):
    services = compose["services"]
    assert services["migrate"]["command"] == ["flask", "--app", "portal", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", ["app", "worker", "postgres", "redis"])
def test_every_long_running_service_has_a_healthcheck(compose, service):
    check = compose["services"][service]["healthcheck"]
    assert check["test"][0] == "CMD" and len(check["test"]) > 1
    assert "interval" in check and "retries" in check


def test_the_apps_healthcheck_asks_readyz_with_the_public_host(compose):
    command = " ".join(compose["services"]["app"]["healthcheck"]["test"])
    assert "/readyz" in command and "PORTAL_PUBLIC_URL" in command and "Host" in command


def test_no_secret_is_written_in_the_compose_file(compose):
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            value = str(value)
            if SECRET_NAMES.search(variable):
                assert REFERENCE.match(value), f"{name}: {variable} must come from .env"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", value):
                assert REFERENCE.match(password), f"{name}: a password in {variable}"


def test_every_variable_compose_requires_is_in_the_example_env_file():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    example = ROOT / "deploy" / "compose.env.example"
    lines = dict(line.split("=", 1) for line in example.read_text().splitlines()
                 if line and not line.startswith("#"))
    assert required <= set(lines), f"missing from {example.name}: {required - set(lines)}"
    for name in lines:
        if SECRET_NAMES.search(name):
            assert lines[name] == "", f"{example.name} must not carry a value for {name}"


def test_the_env_files_with_secrets_are_never_committed():
    result = subprocess.run(["git", "check-ignore", ".env", "deploy/portal.env"], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode == 128:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    assert result.stdout.split() == [".env", "deploy/portal.env"]


@pytest.mark.skipif(shutil.which("docker") is None
                    or subprocess.run(["docker", "compose", "version"],
                                      capture_output=True).returncode != 0,
                    reason="docker compose is not installed (the schema check above stands in)")
def test_docker_compose_accepts_the_file_with_the_example_settings_filled_in(tmp_path):
    settings = (ROOT / "deploy" / "compose.env.example").read_text()
    settings = settings.replace("PORTAL_SECRET_KEY=\n", "PORTAL_SECRET_KEY=x\n").replace(
        "POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=x\n")
    (tmp_path / "compose.env").write_text(settings)
    subprocess.run(["docker", "compose", "--env-file", str(tmp_path / "compose.env"), "-f",
                    str(COMPOSE), "config", "-q"], check=True, cwd=ROOT)


# ---- Dockerfile --------------------------------------------------------------------------------

def test_everything_the_dockerfile_copies_exists_and_is_not_docker_ignored():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    copies = [args for word, args in dockerfile_instructions() if word == "COPY"]
    assert copies
    for args in copies:
        sources = [part for part in shlex.split(args) if not part.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignored), \
                f"COPY {source}: excluded by .dockerignore"


def test_the_image_installs_the_server_extra_and_runs_as_a_user_of_its_own():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11")
    assert any(word == "RUN" and 'pip install ".[server]"' in args for word, args in instructions)
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (word, _) in enumerate(instructions) if word == "USER")
    assert all(word != "RUN" for word, _ in instructions[last_user:]), "RUN as root after USER"


def test_the_instance_folder_is_a_volume_where_the_portal_looks_for_it():
    instructions = dockerfile_instructions()
    assert any(word == "VOLUME" and INSTANCE in args for word, args in instructions)
    assert any(word == "ENV" and f"PORTAL_INSTANCE_PATH={INSTANCE}" in args
               for word, args in instructions)


def test_the_images_command_is_the_compose_apps():
    [cmd] = [args for word, args in dockerfile_instructions() if word == "CMD"]
    assert json.loads(cmd) == WEB_COMMAND


# ---- systemd -----------------------------------------------------------------------------------

def read_unit(name: str) -> configparser.ConfigParser:
    """The unit as sections of keys; a key given twice keeps its values joined by newlines."""
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       dict_type=_MultiDict, empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((SYSTEMD / name).read_text())
    return parser


class _MultiDict(dict):
    """systemd allows a key twice (SystemCallFilter=); configparser would refuse it."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list) and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def test_there_are_units_for_the_web_app_and_the_worker():
    assert {"portal-web.service", "portal-worker.service"} <= set(UNITS)


@pytest.mark.parametrize("name", [u for u in UNITS if u.endswith(".service")])
def test_each_service_runs_as_the_portal_user_with_hardening(name):
    service = read_unit(name)["Service"]
    assert service["User"] == "portal"
    assert service["EnvironmentFile"] == "/etc/portal/portal.env"
    assert f"PORTAL_INSTANCE_PATH={INSTANCE}" in service["Environment"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == INSTANCE
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""


def test_the_units_run_what_the_compose_file_runs(compose):
    web = read_unit("portal-web.service")["Service"]["ExecStart"].split()
    worker = read_unit("portal-worker.service")["Service"]["ExecStart"].split()
    assert [Path(web[0]).name, *web[1:]] == compose["services"]["app"]["command"]
    assert [Path(worker[0]).name, *worker[1:]] == compose["services"]["worker"]["command"]
    assert read_unit("portal-worker.service")["Service"]["KillSignal"] == "SIGTERM"


@pytest.mark.parametrize("command", [["worker"], ["db", "upgrade"], ["billing", "run"]],
                         ids=" ".join)
def test_the_commands_the_files_start_exist(app, command):
    result = app.test_cli_runner().invoke(args=[*command, "--help"])
    assert result.exit_code == 0, result.output
    assert (ROOT / "wsgi.py").is_file()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (the key checks above stand in)")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    # verify insists the programs exist: point the units at stand-ins for the virtualenv's.
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for program in ("gunicorn", "flask"):
        (stand_ins / program).write_text("#!/bin/sh\n")
        (stand_ins / program).chmod(0o755)
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/srv/portal/venv/bin/", f"{stand_ins}/")
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), \
        result.stdout + result.stderr
