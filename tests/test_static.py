"""Static files: the vendored htmx is the one we checked, URLs carry a content hash, all served."""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import brotli
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


def digest_of(filename: str) -> str:
    return hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]


@pytest.mark.parametrize(("filename", "hashed"), [
    ("portal.css", "portal.{}.css"),
    ("vendor/htmx-4.0.1.min.js", "vendor/htmx-4.0.1.min.{}.js"),
    ("favicon.svg", "favicon.{}.svg"),
])
def test_static_url_carries_the_files_content_hash_in_its_name(app, filename, hashed):
    with app.test_request_context():
        url = render_template_string("{{ static_url(name) }}", name=filename)
    parts = urlsplit(url)
    assert parts.path == "/static/" + hashed.format(digest_of(filename))
    assert parts.query == ""


def test_pages_link_the_stylesheet_and_htmx_by_hashed_url(app, client_request):
    page = client_request.get("login.signed_out")
    stylesheet = page.select_one('link[rel="stylesheet"]')["href"]
    script = page.select_one("script[src]")["src"]
    assert stylesheet == f"/static/portal.{digest_of('portal.css')}.css"
    assert script == f"/static/vendor/htmx-4.0.1.min.{digest_of('vendor/htmx-4.0.1.min.js')}.js"


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


def test_an_old_pages_v_url_still_gets_the_file_cached_for_a_year(client):
    # Pages cached before the hash moved into the name still link /static/portal.css?v=<hash>.
    response = client.get(f"/static/portal.css?v={digest_of('portal.css')}")
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("url", ["/static/portal.000000000000.css",
                                 "/static/vendor/htmx-4.0.1.min.000000000000.js"])
def test_a_name_whose_hash_is_not_the_files_gets_the_file_cached_briefly(client, url):
    # A page older than the file it names still gets a stylesheet, but not pinned for a year.
    response = client.get(url)
    assert response.status_code == 200
    plain = url.removeprefix("/static/").replace(".000000000000", "")
    assert response.get_data() == (STATIC / plain).read_bytes()
    assert response.headers["Cache-Control"] == "max-age=60, public"


@pytest.mark.parametrize("url", ["/static/nothing.0123456789ab.css",
                                 "/static/portal.0123456789ab.js",
                                 "/static/../portal.0123456789ab.css"])
def test_a_hashed_name_of_no_static_file_is_not_found(client, url):
    assert client.get(url).status_code == 404


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


# ---- served before Flask: compressed copies, no session cookie, nothing outside static/ ---------

def versioned(app, filename: str) -> str:
    with app.test_request_context():
        return render_template_string("{{ static_url(name) }}", name=filename)


def test_a_signed_in_request_for_the_stylesheet_gets_no_cookie(app, client, signed_in_customer):
    # A year-long public cache must never hold a live session cookie.
    assert client.get("/p/").status_code == 200  # the session is live
    response = client.get(versioned(app, "portal.css"))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "immutable" in response.headers["Cache-Control"]


@pytest.mark.parametrize(("accept", "encoding", "decompress"), [
    ("gzip, deflate, br, zstd", "br", brotli.decompress),
    ("br", "br", brotli.decompress),
    ("gzip, deflate", "gzip", gzip.decompress),
    ("identity", None, bytes),
    ("", None, bytes),
])
@pytest.mark.parametrize("filename", ["portal.css", "vendor/htmx-4.0.1.min.js", "favicon.svg"])
def test_static_files_are_sent_compressed_as_the_browser_accepts(app, client, filename, accept,
                                                                  encoding, decompress):
    response = client.get(versioned(app, filename), headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert decompress(response.get_data()) == (STATIC / filename).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_htmx_goes_out_at_a_third_of_its_size(app, client):
    response = client.get(versioned(app, "vendor/htmx-4.0.1.min.js"),
                          headers={"Accept-Encoding": "br"})
    raw = (STATIC / "vendor" / "htmx-4.0.1.min.js").stat().st_size
    assert len(response.get_data()) < raw / 3


def test_head_on_a_static_file_gives_the_headers_without_the_body(app, client):
    url = versioned(app, "portal.css")
    got = client.get(url, headers={"Accept-Encoding": "br"})
    head = client.head(url, headers={"Accept-Encoding": "br"})
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    assert head.headers["Content-Encoding"] == "br"


def test_a_stylesheet_asked_for_again_is_not_sent_again(app, client):
    url = versioned(app, "portal.css")
    etag = client.get(url).headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_a_v_url_whose_hash_is_not_the_files_is_not_cached_for_a_year(client):
    # An old page's URL, or a made-up one, must not pin today's file for a year.
    response = client.get("/static/portal.css?v=000000000000")
    assert response.status_code == 200
    assert "immutable" not in response.headers["Cache-Control"]
    assert "max-age=31536000" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", [
    "/static/../portal/__init__.py",
    "/static/%2e%2e/portal/__init__.py",
    "/static/vendor/../../pyproject.toml",
    "/static/..%2fpyproject.toml",
    "/static/portal.css.br",
    "/static/vendor/",
    "/static/",
])
def test_nothing_outside_the_static_files_is_served(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"[project]" not in response.get_data()
    assert b"create_app" not in response.get_data()


def test_a_doubled_slash_is_redirected_to_the_file_itself(client):
    response = client.get("/static//portal.css")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/static/portal.css")


def test_the_compressed_copies_are_made_in_the_instance_folder(app):
    cache = Path(app.instance_path) / "static-cache"
    [copy] = [folder for folder in cache.iterdir() if not folder.name.startswith(".")]
    assert (copy / "vendor" / "htmx-4.0.1.min.js.br").is_file()
    assert (copy / "vendor" / "htmx-4.0.1.min.js.gz").is_file()
    assert (copy / "portal.css").read_bytes() == (STATIC / "portal.css").read_bytes()
    assert not list(STATIC.rglob("*.br")) and not list(STATIC.rglob("*.gz"))


def test_workers_starting_at_once_share_one_complete_copy(tmp_path):
    # gunicorn starts its workers together: each builds aside, the first rename wins.
    from portal.compression import precompressed_copy

    cache = tmp_path / "static-cache"
    start = threading.Barrier(6)
    results, errors = [], []

    def worker():
        start.wait()
        try:
            results.append(precompressed_copy(STATIC, cache))
        except Exception as error:  # collected, so the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert [p.name for p in cache.iterdir()] == [results[0].name]  # no half-built folders left
    assert brotli.decompress((results[0] / "portal.css.br").read_bytes()) == (
        STATIC / "portal.css").read_bytes()


def test_the_portal_starts_and_serves_static_files_when_the_instance_folder_is_read_only(
        database_uri, tmp_path, monkeypatch):
    from portal import compression, create_app
    from tests.conftest import base_config

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(compression, "precompressed_copy", refuse)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(database_uri))
    response = app.test_client().get("/static/portal.css", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()


# ---- the icon ---------------------------------------------------------------------------------

def test_pages_name_an_icon_that_is_served(client_request, client):
    # Without one, every browser asks for /favicon.ico and gets a 404.
    icon = client_request.get("login.signed_out").select_one('link[rel="icon"]')
    response = client.get(icon["href"])
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert icon["href"] == f"/static/favicon.{digest_of('favicon.svg')}.svg"
    assert "immutable" in response.headers["Cache-Control"]


def test_the_merchants_uploaded_icon_is_the_pages_icon(app, client_request, client, session):
    from portal.portal_settings.operations import get_branding

    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "acme-icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    get_branding(session).icon = "acme-icon.png"
    session.commit()
    href = client_request.get("login.signed_out").select_one('link[rel="icon"]')["href"]
    assert href == "/branding/icon?v=acme-icon.png"  # a new icon, a new URL
    assert client.get(href).status_code == 200
    # The same for every visitor and outside /p/ (where every answer is no-store): cached.
    assert client.get(href).headers["Cache-Control"] == "public, max-age=86400"


def test_a_signed_in_customers_cached_image_request_carries_no_session_cookie(
        app, client, session, signed_in_customer):
    from portal.portal_settings.operations import get_branding

    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "acme-icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    get_branding(session).icon = "acme-icon.png"
    session.commit()
    assert "Set-Cookie" in client.get("/p/").headers  # the customer's session is refreshed...
    response = client.get("/branding/icon?v=acme-icon.png")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    # ...but never on an answer a shared cache may keep and give to everyone.
    assert "Set-Cookie" not in response.headers
    assert "Set-Cookie" not in client.get("/product-images/product-1x1-00.png").headers


def test_in_development_a_hashed_name_is_served_from_the_file_as_it_is_now(
        database_uri, tmp_path, monkeypatch):
    # STATIC_AUTOREFRESH (debug) reads the folder on every request instead of the start's copy.
    from portal import create_app
    from tests.conftest import base_config

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(database_uri, STATIC_AUTOREFRESH=True))
    with app.test_request_context():
        url = render_template_string("{{ static_url('portal.css') }}")
    response = app.test_client().get(url)
    assert url == f"/static/portal.{digest_of('portal.css')}.css"
    assert response.status_code == 200
    assert response.get_data() == (STATIC / "portal.css").read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_the_merchants_icon_asked_for_again_is_not_sent_again(app, client, session):
    from portal.portal_settings.operations import get_branding

    uploads = Path(app.instance_path) / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "acme-icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    get_branding(session).icon = "acme-icon.png"
    session.commit()
    etag = client.get("/branding/icon?v=acme-icon.png").headers["ETag"]
    again = client.get("/branding/icon?v=acme-icon.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
