"""The branding row is made once, however many requests need it at the same moment."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.extensions import db
from portal.portal_settings.models import Branding
from portal.portal_settings.operations import get_branding


def test_parallel_first_requests_all_get_the_one_branding_row(app):
    start = threading.Barrier(4)
    names, errors = [], []

    def first_request():
        with app.app_context():
            try:
                start.wait()
                names.append(get_branding(db.session).business_name)
                db.session.commit()
            except Exception as error:  # reported below, with its type
                errors.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert names == ["Billing portal"] * 4
    assert db.session.scalar(select(func.count()).select_from(Branding)) == 1
