"""The OpenAPI document is served and describes every endpoint, and schemathesis (requests
generated from the document, many of them malformed on purpose) finds no server error.

Run through schemathesis' own command line against the app on a real port: its pytest
plugin does not load under the pytest this suite uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from portal.api.routing import ENDPOINTS

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_the_document_lists_every_endpoint_with_its_parameters(api):
    document = api.get("/v1/openapi.json", key="").get_json()

    operations = {(method.upper(), path) for path, methods in document["paths"].items()
                  for method in methods}
    for spec in ENDPOINTS:
        if spec.name == "openapi_document":
            continue
        path = "/v1" + spec.path.replace("<", "{").replace(">", "}")
        assert (spec.method, path) in operations
    create = document["paths"]["/v1/billing_portal/configurations"]["post"]
    body = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert body["required"] == ["features"]
    assert body["additionalProperties"] is False
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_schemathesis_finds_no_server_error(app, api_server, api_key, tmp_path):
    app.config["API_RATE_LIMIT"] = ""
    examples = os.environ.get("PORTAL_SCHEMATHESIS_EXAMPLES", "20")
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{api_server.url}/v1/openapi.json",
         "--checks", "not_a_server_error", "--header", f"Authorization: Bearer {api_key}",
         "--max-examples", examples, "--seed", "11", "--request-timeout", "20",
         "--suppress-health-check", "all",
         "--generation-database", "none"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"})
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    operations = len([spec for spec in ENDPOINTS if spec.name != "openapi_document"])
    assert f"Tested: {operations}" in result.stdout  # every operation was exercised
    assert "0 generated" not in result.stdout
