"""`flask --app portal login-link`: print the URL, rotate it, switch it off."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.portal_settings.models import LoginLink


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["login-link", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def link_id(url: str) -> str:
    match = re.fullmatch(r"http://127\.0\.0\.1:5000/p/login/([A-Za-z0-9_-]{20,})", url)
    assert match, url
    return match.group(1)


def test_it_prints_the_active_url_activating_one_if_none_is_active(app, client_request,
                                                                   session):
    first = link_id(run(app))
    assert link_id(run(app)) == first  # printing again does not change it
    assert session.scalars(select(LoginLink)).one().active
    page = client_request.get("login.enter_email", link_id=first)
    assert page.h1.text.startswith("Sign in")


def test_rotate_replaces_the_url_and_the_old_one_answers_not_active(app, client_request):
    old = link_id(run(app))
    new = link_id(run(app, "--rotate"))
    assert new != old
    page = client_request.get("login.enter_email", link_id=old, _expected_status=404)
    assert page.h1.text == "This login link is not active"
    client_request.get("login.enter_email", link_id=new)


def test_deactivate_kills_every_url_ever_shared(app, client_request, session):
    shared = [link_id(run(app)), link_id(run(app, "--rotate"))]
    # Two links active at once (made by hand), to show deactivation reaches all of them.
    from portal.dbtypes import utcnow

    extra = LoginLink(id="another-active-link-0123456", active=True, created=utcnow())
    session.add(extra)
    session.commit()
    shared.append(extra.id)
    output = run(app, "--deactivate")
    assert "Deactivated 2 login link(s)" in output
    for dead in shared:
        page = client_request.get("login.enter_email", link_id=dead, _expected_status=404)
        assert "This login link is not active" in page.text
    revived = link_id(run(app))
    assert revived not in shared
    client_request.get("login.enter_email", link_id=revived)
