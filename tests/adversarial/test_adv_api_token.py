"""Malformed API tokens: every reader (client transport, run links, server keys, Flyte plugin)
answers the same, through the one ``neptune_scale.token`` module."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from despina.auth import InvalidApiToken, decode_api_token
from flytekitplugins.neptune._token import host_from_token
from neptune_scale import Run
from neptune_scale._http import HttpTransport
from neptune_scale.exceptions import NeptuneInvalidCredentialsError
from neptune_scale.token import (
    InvalidApiTokenError,
    api_url_of,
    encode_api_token,
    parse_api_token,
)


def b64(payload: Any) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.b64encode(text.encode()).decode()


GOOD = {"api_url": "http://h:1/", "api_key": "k"}

MALFORMED = [
    pytest.param("", "not base64", id="empty"),
    pytest.param("   \n", "not base64", id="whitespace"),
    pytest.param("not base64!", "not base64", id="not-base64"),
    # Stray characters inside: lenient base64 decoding used to skip them and accept the token.
    pytest.param(b64(GOOD)[:8] + "!" + b64(GOOD)[8:], "not base64", id="stray-character"),
    pytest.param(b64(GOOD)[:8] + "\n" + b64(GOOD)[8:], "not base64", id="inner-newline"),
    pytest.param(b64(GOOD)[:-1], "not base64", id="truncated"),
    pytest.param(b64("not json"), "not base64-encoded JSON", id="not-json"),
    pytest.param(base64.b64encode(b"\xff\xfe").decode(), "not base64-encoded JSON", id="not-utf8"),
    pytest.param(b64([1]), "JSON list, not an object", id="json-list"),
    pytest.param(b64("3"), "JSON int, not an object", id="json-number"),
    pytest.param(b64({"api_key": "k"}), "no 'api_url'", id="no-url"),
    pytest.param(b64({"api_url": "", "api_key": "k"}), "no 'api_url'", id="empty-url"),
    # Any string used to pass for a URL in run links and the Flyte plugin.
    pytest.param(b64({"api_url": "ftp://h", "api_key": "k"}), "http(s)", id="ftp-url"),
    pytest.param(b64({"api_url": "h:1", "api_key": "k"}), "http(s)", id="no-scheme"),
    pytest.param(b64({"api_url": 7, "api_key": "k"}), "no 'api_url'", id="url-not-str"),
    pytest.param(b64({"api_url": "http://h", "api_key": 7}), "'api_key' must be a str", id="key-7"),
]


@pytest.mark.parametrize(("token", "reason"), MALFORMED)
def test_every_reader_refuses_a_malformed_token_alike(token: str, reason: str) -> None:
    reason = re.escape(reason)
    with pytest.raises(InvalidApiTokenError, match=reason) as raised:
        parse_api_token(token)
    assert isinstance(raised.value, NeptuneInvalidCredentialsError)
    assert isinstance(raised.value, ValueError)
    assert api_url_of(token) is None
    assert host_from_token(token) is None
    with pytest.raises(InvalidApiToken, match=reason):
        decode_api_token(token)
    with pytest.raises(NeptuneInvalidCredentialsError, match=reason):
        HttpTransport(token)


def test_a_malformed_token_gives_a_run_no_server_link(tmp_path: Any) -> None:
    token = b64({"api_url": "ftp://h", "api_key": "k"})
    run = Run(project="ws/p", run_id="r", api_token=token, mode="offline", log_directory=tmp_path,
              enable_console_log_capture=False, source_tracking_config=None)  # fmt: skip
    try:
        assert run.get_run_url().startswith("http://127.0.0.1:")  # the local UI, not ftp://h
    finally:
        run.close()


@pytest.mark.parametrize(
    ("payload", "url", "key"),
    [
        (GOOD, "http://h:1", "k"),
        ({"api_address": "https://a/", "api_key": "k"}, "https://a", "k"),  # old tokens
        ({"api_url": "", "api_address": "https://a", "api_key": "k"}, "https://a", "k"),
        ({"api_url": "https://u", "api_address": "https://a"}, "https://u", None),
    ],
)
def test_valid_tokens_read_alike(payload: dict[str, Any], url: str, key: str | None) -> None:
    token = "  " + b64(payload) + "\n"  # pasted with surrounding whitespace
    parsed = parse_api_token(token)
    assert (parsed.api_url, parsed.api_key, parsed.raw) == (url, key, token.strip())
    assert api_url_of(token) == host_from_token(token) == url
    if key is None:
        with pytest.raises(InvalidApiToken, match="no 'api_key'"):  # the server needs the key
            decode_api_token(token)
    else:
        assert decode_api_token(token) == (url, key)


def test_written_tokens_read_back_and_name_the_url_twice() -> None:
    token = encode_api_token("https://srv.example:8080", "dsp1_x_y")
    assert json.loads(base64.b64decode(token)) == {
        "api_address": "https://srv.example:8080",
        "api_url": "https://srv.example:8080",
        "api_key": "dsp1_x_y",
    }
    assert parse_api_token(token).api_key == "dsp1_x_y"
    with pytest.raises(ValueError, match="api_url must start with http"):
        encode_api_token("srv.example", "k")
