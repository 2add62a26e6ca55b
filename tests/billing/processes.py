"""Running ``flask --app portal billing run`` in other processes on the test database. Not a
test module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
RECORDING_GATEWAY = "tests.billing.recording_gateway:RecordingGateway"


def command_env(database_uri: str, instance: Path, log: Path, **extra: str) -> dict:
    """The environment of a billing command on the test database, charging through the
    recording gateway into ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri,
        "PORTAL_SECRET_KEY": TEST_SECRET,
        "PORTAL_MAIL_BACKEND": "console",
        "PORTAL_PAYMENT_GATEWAY": RECORDING_GATEWAY,
        "PORTAL_TEST_GATEWAY_LOG": str(log),
    })
    env.update(extra)
    return env


def start_billing_run(env: dict, *args: str, **popen) -> subprocess.Popen:
    """Start ``flask --app portal billing run ARGS`` from the checkout."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([FLASK, "--app", "portal", "billing", "run", *args], cwd=ROOT,
                            env=env, text=True, **popen)


def billing_run(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run the command to the end and return what it did."""
    return subprocess.run([FLASK, "--app", "portal", "billing", "run", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
