"""Static files: the vendored htmx is the one we checked, URLs carry a content hash, all served."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import render_template_string

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_vendored_htmx_matches_its_recorded_checksum():
    sums = {}
    for line in (STATIC / "vendor" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    assert "htmx-4.0.1.min.js" in sums
    for name, digest in sums.items():
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest, name


def test_vendored_htmx_is_version_4_0_1():
    assert '"4.0.1"' in (STATIC / "vendor" / "htmx-4.0.1.min.js").read_text()


@pytest.mark.parametrize("filename", ["portal.css", "vendor/htmx-4.0.1.min.js"])
def test_static_url_carries_the_files_content_hash(app, filename):
    with app.test_request_context():
        url = render_template_string("{{ static_url(name) }}", name=filename)
    parts = urlsplit(url)
    assert parts.path == f"/static/{filename}"
    expected = hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]
    assert parse_qs(parts.query) == {"v": [expected]}


def test_pages_link_the_stylesheet_and_htmx_by_hashed_url(app, client_request):
    page = client_request.get("login.signed_out")
    stylesheet = page.select_one('link[rel="stylesheet"]')["href"]
    script = page.select_one("script[src]")["src"]
    assert stylesheet.startswith("/static/portal.css?v=")
    assert script.startswith("/static/vendor/htmx-4.0.1.min.js?v=")


@pytest.mark.parametrize(("filename", "mimetype"), [
    ("portal.css", "text/css"),
    ("vendor/htmx-4.0.1.min.js", "text/javascript"),
])
def test_static_files_are_served_and_cached_for_a_year(app, client, filename, mimetype):
    with app.test_request_context():
        url = render_template_string("{{ static_url(name) }}", name=filename)
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data() == (STATIC / filename).read_bytes()
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert "immutable" in response.headers["Cache-Control"]


def test_a_static_file_without_the_hash_is_not_cached_for_a_year(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200
    assert "max-age=31536000" not in response.headers.get("Cache-Control", "")


def test_a_missing_static_file_is_not_found(client):
    assert client.get("/static/nothing-here.css").status_code == 404


def test_an_edited_stylesheet_gets_a_new_url_without_a_restart(app, tmp_path):
    # A designer editing CSS in development must not be served the year-cached old copy.
    static = tmp_path / "static"
    static.mkdir()
    css = static / "site.css"
    css.write_text("body{color:#111}")
    app.static_folder = str(static)
    with app.test_request_context():
        before = render_template_string("{{ static_url('site.css') }}")
        css.write_text("body{color:#222}")
        os.utime(css, ns=(css.stat().st_atime_ns, css.stat().st_mtime_ns + 10**9))
        after = render_template_string("{{ static_url('site.css') }}")
    assert before != after
