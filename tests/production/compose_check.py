"""Checks docker-compose.yml against the Compose Specification's JSON Schema (vendored in
tests/production/schemas/), for machines without ``docker compose``. CI runs it as

    python -m tests.production.compose_check docker-compose.yml

and tests/production/test_deploy_files.py calls ``problems()``.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import jsonschema_rs
import yaml

SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"


@lru_cache(maxsize=1)
def _validator():
    """The schema's validator, built once."""
    return jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))


def load(path: Path) -> dict:
    """The compose file as compose reads it (YAML merge keys resolved), not interpolated."""
    return yaml.safe_load(Path(path).read_text())


def problems(path: Path) -> list[str]:
    """Every way the file breaks the specification, as ``where: message`` lines."""
    try:
        document = load(path)
    except yaml.YAMLError as error:
        return [f"not YAML: {error}"]
    return [f"{'/'.join(str(part) for part in error.instance_path) or '(top)'}: {error.message}"
            for error in _validator().iter_errors(document)]


def main(argv: list[str]) -> int:
    """Check each file named; exit 1 with the problems if any has one."""
    status = 0
    for name in argv or ["docker-compose.yml"]:
        found = problems(Path(name))
        for line in found:
            print(f"{name}: {line}", file=sys.stderr)
        if found:
            status = 1
        else:
            print(f"{name}: valid against the Compose Specification "
                  f"({SCHEMA.relative_to(Path.cwd()) if SCHEMA.is_relative_to(Path.cwd()) else SCHEMA})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
