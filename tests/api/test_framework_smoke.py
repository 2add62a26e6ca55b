def test_openapi_document_is_served(api):
    response = api.get("/v1/openapi.json", key="")
    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"


def test_unknown_url_answers_in_stripes_shape(api):
    response = api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["type"] == "invalid_request_error"
