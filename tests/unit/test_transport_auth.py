"""Pluggable auth header and request-id lookup of the Transport (no network: the prepared request)."""

from __future__ import annotations

import pytest
import requests

from llm_client_sync import ConfigurationError
from llm_client_sync.transport import Transport, _request_id, header_value


def _prepared(t: Transport) -> requests.PreparedRequest:
    return t._get_session().prepare_request(requests.Request("POST", t.base_url + "/x"))


def test_default_auth_is_bearer_authorization():
    h = _prepared(Transport("http://127.0.0.1:9", "sk-1")).headers
    assert h["Authorization"] == "Bearer sk-1"


@pytest.mark.parametrize("name", ["x-api-key", "x-goog-api-key"])
def test_bare_key_in_a_custom_header(name):
    h = _prepared(Transport("http://127.0.0.1:9", "k-2", auth_header=name, auth_scheme=None)).headers
    assert h[name] == "k-2" and "Authorization" not in h


def test_no_key_sends_no_auth_header_and_repr_hides_key():
    t = Transport("http://127.0.0.1:9", None, auth_header="x-api-key", auth_scheme=None)
    assert "x-api-key" not in _prepared(t).headers
    t2 = Transport("http://127.0.0.1:9", "sk-secret-1")
    assert "sk-secret-1" not in repr(t2) and "sk-secret-1" not in repr(t2._auth)


def test_bad_auth_header_is_configuration_error():
    with pytest.raises(ConfigurationError):
        Transport("http://127.0.0.1:9", "k", auth_header="")


@pytest.mark.parametrize("headers, expected", [
    ({"x-request-id": "req_1", "request-id": "req_2"}, "req_1"),
    ({"Request-Id": "req_ant"}, "req_ant"),
    ({"X-Goog-Request-Id": "g1"}, "g1"),
    ({"content-type": "application/json"}, None),
    ({"x-request-id": "  "}, None),
])
def test_request_id_lookup(headers, expected):
    assert _request_id(headers) == expected
    assert _request_id(requests.structures.CaseInsensitiveDict(headers)) == expected


def test_header_value_is_case_insensitive_and_stripped():
    assert header_value({"Retry-After": " 3 "}, "retry-after") == "3"
    assert header_value({"a": 1}, "a") is None and header_value(None, "a") is None
