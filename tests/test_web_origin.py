"""
Which pages may open the chat's WebSocket, in memory: its own page (by the
Host it was asked for), the origins the operator allowed, and programs
that send no Origin; every other page is refused with one line.
"""

from __future__ import annotations

import pytest

from twisted_chat.frontends.web.origin import (
    OriginPolicy,
    check_origin,
    check_origins,
    normal_origin,
    page_origin,
)


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://chat.lan:8080", "chat.lan:8080", False),
        ("http://CHAT.lan:8080", "chat.LAN:8080", False),
        ("http://chat.lan", "chat.lan:80", False),
        ("http://chat.lan:80", "chat.lan", False),
        ("https://chat.lan", "chat.lan", True),
        ("https://chat.lan:443", "chat.lan", True),
        ("http://192.168.1.5:8080", "192.168.1.5:8080", False),
        ("http://[fe80::1]:8080", "[fe80::1]:8080", False),
    ],
)
def test_the_page_own_origin_is_accepted(origin: str, host: str, secure: bool) -> None:
    assert OriginPolicy().refusal(origin, host, secure) is None


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://evil.example", "chat.lan:8080", False),
        ("http://chat.lan:8081", "chat.lan:8080", False),
        # The same host over the other scheme is another origin.
        ("http://chat.lan", "chat.lan", True),
        ("https://chat.lan", "chat.lan", False),
        ("http://chat.lan.evil.example", "chat.lan", False),
        ("null", "chat.lan", False),
        ("", "chat.lan", False),
        ("file://", "chat.lan", False),
        ("http://chat.lan/path", "chat.lan", False),
        ("http://user@chat.lan", "chat.lan", False),
        # No Host, or a strange one: only allowed origins could match.
        ("http://chat.lan", None, False),
        ("http://chat.lan", "chat.lan, evil", False),
    ],
)
def test_any_other_origin_is_refused_with_one_line(
    origin: str, host: str | None, secure: bool
) -> None:
    refusal = OriginPolicy().refusal(origin, host, secure)
    assert refusal is not None
    assert "\n" not in refusal
    assert refusal.startswith("Refused: the chat's WebSocket is for its own page")


def test_allowed_origins_are_accepted_from_any_host() -> None:
    policy = OriginPolicy(["https://Chat.Example.org:443", "http://10.0.0.2:8080"])
    assert policy.refusal("https://chat.example.org", "10.0.0.1:8080", False) is None
    assert policy.refusal("http://10.0.0.2:8080", None, False) is None
    assert policy.refusal("http://10.0.0.2:8081", "x", False) is not None


def test_a_handshake_without_origin_is_no_page_and_goes_ahead() -> None:
    assert OriginPolicy().refusal(None, "chat.lan", False) is None


def test_origins_are_spelled_as_browsers_send_them() -> None:
    assert normal_origin("HTTP://Chat.Lan:80/") == "http://chat.lan"
    assert normal_origin("https://chat.lan:8443") == "https://chat.lan:8443"
    assert normal_origin("http://chat.lan:0") is None
    assert normal_origin("http://chat.lan:99999") is None
    assert normal_origin("ws://chat.lan") is None
    assert page_origin("chat.lan:443", True) == "https://chat.lan"
    assert page_origin(None, False) is None


def test_a_bad_origin_option_is_one_line_naming_it() -> None:
    with pytest.raises(ValueError) as raised:
        check_origin("chat.lan")
    assert str(raised.value) == (
        "--web-origin takes an origin (http:// or https://, a host and perhaps a "
        "port: https://chat.example.org), not 'chat.lan'"
    )
    assert check_origins("http://a.lan, https://b.lan:443") == [
        "http://a.lan",
        "https://b.lan",
    ]
    with pytest.raises(ValueError, match=r"^--web-origins takes origins .* not 'x'$"):
        check_origins("http://a.lan,x")
