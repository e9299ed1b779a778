"""Telling chat clients from browsers and TLS clients by their first bytes."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from twisted_chat.frontends.line.probe import (
    HTTP_ANSWER,
    PROBE_SECONDS,
    TLS_ALERT,
    Kind,
    ProbeTimer,
    classify,
)


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", Kind.HTTP),
        (b"HEAD /x HTTP/1.0\r\n", Kind.HTTP),
        (b"PRI * HTTP/2.0\r\n", Kind.HTTP),
        (b"\x16\x03\x01\x02\x00\x01", Kind.TLS),
        (b"hello everyone\n", Kind.CHAT),
        (b"GET out of here\n", Kind.CHAT),
        (b"Get / HTTP/1.1\r\n", Kind.CHAT),
        (b"GETTING", Kind.CHAT),
        (b"/nick bob\n", Kind.CHAT),
        (b"\xff\xf4\xff\xfd\x06", Kind.CHAT),
        (b"\x16x", Kind.CHAT),
        (b"G", Kind.UNSURE),
        (b"GET /index", Kind.UNSURE),
        (b"\x16", Kind.UNSURE),
    ],
)
def test_classify(first: bytes, kind: Kind) -> None:
    assert classify(first) is kind


def test_unsure_never_lasts_past_the_look_ahead() -> None:
    assert classify(b"GET /" + b"x" * 600) is Kind.CHAT


def test_the_http_answer_is_a_whole_http_response() -> None:
    head, _, body = HTTP_ANSWER.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert b"chat port" in body


def test_the_tls_answer_is_a_fatal_alert_record() -> None:
    content_type, major, minor, length = (
        TLS_ALERT[0],
        TLS_ALERT[1],
        TLS_ALERT[2],
        TLS_ALERT[3:5],
    )
    assert (content_type, major, minor) == (21, 3, 1)
    assert int.from_bytes(length, "big") == len(TLS_ALERT) - 5 == 2
    assert TLS_ALERT[5] == 2  # fatal


def test_the_probe_timer_calls_each_callback_after_the_probe_time_in_order() -> None:
    clock = Clock()
    timer = ProbeTimer(clock)  # type: ignore[arg-type]
    called: list[str] = []
    timer.start(lambda: called.append("first"))
    clock.advance(PROBE_SECONDS / 2)
    timer.start(lambda: called.append("second"))
    assert len(clock.getDelayedCalls()) == 1  # one timed call for everyone
    clock.advance(PROBE_SECONDS / 2)
    assert called == ["first"]
    clock.advance(PROBE_SECONDS / 2)
    assert called == ["first", "second"]
    assert clock.getDelayedCalls() == []
