def test_signed_in_customer_sees_their_email_on_the_overview(client_request, signed_in_customer):
    page = client_request.get("customers.overview")
    assert "jenny.rosen@example.com" in page.text


def test_signed_out_visitor_is_sent_to_sign_in(client_request):
    response = client_request.get_response("customers.overview", _expected_status=303)
    assert "/p/signed-out" in response.headers["Location"]
