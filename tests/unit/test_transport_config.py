"""Transport options that fail early with a ConfigurationError, and the ones that pass through."""

from __future__ import annotations

import pytest

from llm_client_sync import ConfigurationError, OpenAIProvider
from llm_client_sync.transport import Transport


@pytest.mark.parametrize("kw", [
    {"ca_bundle": "/nonexistent/ca.pem"},
    {"max_body_bytes": 0},
    {"max_line_bytes": -1},
    {"max_body_bytes": True},
    {"proxies": "http://proxy:3128"},
    {"pool_maxsize": 0},
])
def test_bad_options_are_configuration_errors(kw):
    with pytest.raises(ConfigurationError):
        Transport("http://127.0.0.1:9", "k", **kw)


def test_ca_bundle_and_verify_false_conflict(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked until a TLS connection")
    with pytest.raises(ConfigurationError):
        Transport("http://127.0.0.1:9", "k", ca_bundle=str(ca), verify=False)
    t = Transport("http://127.0.0.1:9", "k", ca_bundle=str(ca))
    assert t._get_session().verify == str(ca)


def test_provider_passes_proxies_verify_and_ca_bundle_through(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1",
                       proxies={"https": "http://proxy.invalid:3128"}, ca_bundle=str(ca))
    s = p.transport._get_session()
    assert s.proxies["https"] == "http://proxy.invalid:3128" and s.verify == str(ca)
    assert OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1",
                          verify=False).transport._get_session().verify is False


def test_accept_encoding_is_only_what_we_decode():
    s = Transport("http://127.0.0.1:9", "k")._get_session()
    assert s.headers["Accept-Encoding"] == "gzip, deflate"
