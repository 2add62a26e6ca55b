"""Stripe's nested form parameters, unflattened and checked as Stripe's clients send them."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from stripe._encode import _api_encode

from portal.api.errors import ApiError
from portal.api.params import (
    UNSET,
    Boolean,
    Id,
    Integer,
    List,
    Metadata,
    Object,
    String,
    Timestamp,
    merged_metadata,
    parse_fields,
    unflatten,
)

ITEMS = {"items": List(item=Object(fields={"price": Id(required=True),
                                             "quantity": Integer(minimum=0)})),
         "metadata": Metadata(), "description": String(max_length=10, nullable=True),
         "trial_end": Timestamp(allow_now=True), "paused": Boolean()}


def _stripe_encoded(params: dict) -> list[tuple[str, str]]:
    """What stripe-python puts on the wire for ``params``."""
    from urllib.parse import urlencode

    return parse_qsl(urlencode(list(_api_encode(params))), keep_blank_values=True)


def test_what_stripe_python_sends_comes_back_as_it_was_given():
    sent = {"items": [{"price": "price_1", "quantity": 3}, {"price": "price_2"}],
            "metadata": {"plan": "pro", "seats": "3"}, "paused": False}

    values = parse_fields(ITEMS, unflatten(_stripe_encoded(sent)))

    assert values == {"items": [{"price": "price_1", "quantity": 3}, {"price": "price_2"}],
                      "metadata": {"plan": "pro", "seats": "3"}, "paused": False}


def test_list_indexes_are_ordered_as_numbers_not_as_text():
    pairs = [(f"items[{i}][price]", f"price_{i}") for i in (10, 2, 1, 0)]

    values = parse_fields(ITEMS, unflatten(pairs))

    assert [item["price"] for item in values["items"]] == ["price_0", "price_1", "price_2",
                                                           "price_10"]


def test_an_empty_string_unsets_what_can_be_unset():
    values = parse_fields(ITEMS, unflatten([("description", ""), ("metadata", "")]))

    assert values == {"description": UNSET, "metadata": UNSET}


def test_trial_end_takes_a_unix_time_or_now():
    assert parse_fields(ITEMS, unflatten([("trial_end", "now")]))["trial_end"] == "now"
    assert parse_fields(ITEMS, unflatten([("trial_end", "1767225600")]))["trial_end"] == (
        datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("pairs", "param", "code", "words"), [
    ([("colour", "red")], "colour", "parameter_unknown", "Received unknown parameter: colour"),
    ([("items[0][prise]", "p")], "items[0][prise]", "parameter_unknown",
     "Received unknown parameter: items[0][prise]"),
    ([("items[0][quantity]", "2")], "items[0][price]", "parameter_missing",
     "Missing required param: items[0][price]."),
    ([("items[0][price]", "p"), ("items[0][quantity]", "two")], "items[0][quantity]",
     "parameter_invalid_integer", "Invalid integer: two"),
    ([("items[0][price]", "p"), ("items[0][quantity]", "-1")], "items[0][quantity]",
     "parameter_invalid_integer", "greater than or equal to 0"),
    ([("items[0][price]", "")], "items[0][price]", "parameter_invalid_empty",
     "You passed an empty string for 'items[0][price]'"),
    ([("items", "price_1")], "items", "parameter_invalid_array", "must be a list"),
    ([("items[x][price]", "p")], "items", "parameter_invalid_array", "must be a list"),
    ([("metadata", "x")], "metadata", "parameter_invalid_object", "Invalid object"),
    ([("metadata[" + "k" * 41 + "]", "v")], "metadata[" + "k" * 41 + "]", "parameter_invalid",
     "up to 40 characters"),
    ([("description", "x" * 11)], "description", "parameter_invalid_string",
     "at most 10 characters"),
    ([("description", "a\x00b")], "description", "parameter_invalid_string", "NUL"),
    ([("paused", "yes")], "paused", "parameter_invalid_boolean", "Invalid boolean: yes"),
    ([("trial_end", "tomorrow")], "trial_end", "parameter_invalid_integer", "Invalid integer"),
    ([("expand[0]", "customer")], "expand", "parameter_unknown", "does not expand objects"),
    ([("metadata[a]", "1"), ("metadata[a][b]", "2")], "metadata[a][b]", "parameter_invalid",
     "both as a value and as a hash"),
    ([("items[0]price", "p")], "items[0]price", "parameter_unknown", "Invalid parameter name"),
])
def test_bad_parameters_are_refused_with_stripes_code_and_the_param_named(pairs, param, code,
                                                                         words):
    with pytest.raises(ApiError) as refused:
        parse_fields(ITEMS, unflatten(pairs))

    error = refused.value
    assert (error.status, error.param, error.code) == (400, param, code)
    assert words in error.message
    assert error.body()["error"]["type"] == "invalid_request_error"


def test_an_id_parameter_that_cannot_be_one_is_a_missing_resource_named_by_its_param():
    with pytest.raises(ApiError) as refused:
        parse_fields(ITEMS, {"items": [{"price": "price_<script>"}]})

    assert (refused.value.status, refused.value.code) == (400, "resource_missing")
    assert refused.value.message == "No such price: 'price_<script>'"
    assert refused.value.param == "items[0][price]"


def test_metadata_updates_merge_keys_and_an_empty_value_removes_one():
    assert merged_metadata({"a": "1", "b": "2"}, {"b": "", "c": "3"}) == {"a": "1", "c": "3"}
    assert merged_metadata({"a": "1"}, UNSET) == {}


def test_too_many_list_items_are_refused():
    pairs = [(f"items[{i}][price]", "p") for i in range(101)]

    with pytest.raises(ApiError) as refused:
        parse_fields(ITEMS, unflatten(pairs))

    assert refused.value.param == "items"
