def test_signed_in_customer_sees_their_email_on_the_overview(client_request, signed_in_customer):
    page = client_request.get("customers.overview")
    assert "jenny.rosen@example.com" in page.text


def test_signed_out_visitor_is_sent_to_sign_in(client_request):
    response = client_request.get_response("customers.overview", _expected_status=303)
    assert "/p/signed-out" in response.headers["Location"]


def test_a_head_request_to_the_login_page_answers_like_a_get(client, session, now):
    """Link checkers and uptime monitors send HEAD; it must not be taken for a form post."""
    from portal.portal_settings.operations import activate_login_link

    link = activate_login_link(session, now=now)
    session.commit()
    assert client.head(f"/p/login/{link.id}").status_code == 200
    assert client.get(f"/p/login/{link.id}").status_code == 200
