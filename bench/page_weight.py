"""Page weight: bytes of every customer page, raw, gzipped and Brotli'd, and what the app actually
sends to a browser that accepts Brotli (``wire``, the body as encoded). Prints; asserts nothing.

Seeds the Acme Cloud demo into a temporary SQLite database, signs in as Jenny through the test
client (a server-side SignInSession named in the cookie, as the login flow does), and fetches
every GET page under /p/ that takes no arguments, plus the login page, the stylesheet, htmx and
the icon.

    .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from pathlib import Path

import brotli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="page-weight-") as tmp:
        os.environ["PORTAL_INSTANCE_PATH"] = tmp
        from flask import render_template_string

        from bench.demo_data import seed_signed_in_demo
        from portal import create_app
        from portal.customers.auth import SESSION_KEY
        from portal.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db"})
        with app.app_context():
            demo = seed_signed_in_demo()
            token = demo.token
            login_path = f"/p/login/{demo.link_id}"

            signed_in = app.test_client()
            with signed_in.session_transaction() as cookie:
                cookie[SESSION_KEY] = token
                cookie.permanent = True
            signed_out = app.test_client()

            pages = sorted({rule.rule for rule in app.url_map.iter_rules()
                            if rule.rule.startswith("/p/") and not rule.arguments
                            and "GET" in (rule.methods or ())})
            browser = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends
            rows = [(f"{login_path} (signed out)", signed_out.get(login_path),
                     signed_out.get(login_path, headers=browser))]
            rows += [(path, signed_in.get(path), signed_in.get(path, headers=browser))
                     for path in pages]
            with app.test_request_context():
                assets = [render_template_string("{{ static_url(name) }}", name=name)
                          for name in ("portal.css", "vendor/htmx-4.0.1.min.js", "favicon.svg")]
            rows += [(url.split("?")[0], signed_out.get(url), signed_out.get(url, headers=browser))
                     for url in assets]

            width = max(len(path) for path, *_ in rows)
            print(f"{'page':<{width}} {'status':>6} {'raw bytes':>10} {'gzip -6':>8} {'gzip -9':>8} "
                  f"{'br -11':>7} {'wire':>7} encoding")
            wire = {}
            for path, response, sent in rows:
                body = response.get_data()
                wire[path] = len(sent.get_data())
                print(f"{path:<{width}} {response.status_code:>6} {len(body):>10} "
                      f"{len(gzip.compress(body, 6)):>8} {len(gzip.compress(body, 9)):>8} "
                      f"{len(brotli.compress(body)):>7} {wire[path]:>7} "
                      f"{sent.headers.get('Content-Encoding', 'identity')}")
                response.close()
                sent.close()
            css, js, icon = (signed_out.get(url).get_data() for url in assets)
            overview = signed_in.get("/p/").get_data()
            first_visit = sum(len(gzip.compress(b, 6)) for b in (overview, css, js))
            print(f"\nfirst visit to /p/ (page + CSS + htmx, gzip -6): {first_visit} bytes")
            login_visit = sum(wire[path] for path in
                              (f"{login_path} (signed out)", *(u.split("?")[0] for u in assets)))
            print(f"first visit to the login page as sent (page, CSS, htmx, icon; bodies only, "
                  f"no headers): {login_visit} bytes")
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
