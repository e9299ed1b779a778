"""
The core's events as JSON, for the browser page's WebSocket.

Each event becomes one JSON object on one line, ended by a newline
(NDJSON). The fan-out (L{twisted_chat.core.turn}) joins a turn's events
for a member by concatenating their bytes, and a member's output queue
joins what waited while its socket was full the same way; newline-ended
objects stay readable whatever is joined, so the WebSocket sends each
C{send} as one text message holding one or more lines of JSON.

Every object has C{"type"}: the event's class in snake case (C{Said} is
C{"said"}, C{WhisperSent} C{"whisper_sent"}), and the event's fields by
their names. Events that are the server speaking (everything but what
people said: C{said}, C{acted}, C{whispered}, C{whisper_sent} and the
lines of a C{backlog}) carry the sentence to show in C{"text"}, worded
exactly as telnet shows it, without its C{"*** "} or C{"! "}; those whose
telnet line is an error (C{"! "}) carry C{"error": true}. For C{rooms} and
C{backlog}, whose telnet answer is several lines, C{"text"} is the first
line (the rest is in the structured fields).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from twisted_chat.core import events
from twisted_chat.frontends.line.render import LINE_RENDERER

#: The version of the schema, sent in C{welcome} as C{"schema"}.
SCHEMA_VERSION = 1

#: What people said: their words are the event's own C{text} or C{texts}.
PEOPLE_EVENTS = (events.Said, events.Acted, events.Whispered, events.WhisperSent)

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def type_name(event_type: type) -> str:
    """C{"whisper_sent"} for L{events.WhisperSent}: the JSON C{"type"}."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type.__name__).lower()


def _fields(event: events.Event) -> dict[str, Any]:
    """The event's fields by name; tuples as lists, nested values as objects."""
    return {
        field.name: _plain(getattr(event, field.name))
        for field in dataclasses.fields(event)
    }


def _plain(value: object) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    return value


def _server_text(event: events.Event) -> tuple[str, bool]:
    """
    What telnet shows for C{event}, without its marks, and whether it is an
    error: the line renderer's words, so the two front ends say the same.
    """
    lines = LINE_RENDERER.render(event).decode("utf-8").split("\r\n")
    if isinstance(event, events.Rooms | events.Backlog):
        lines = lines[:1]
    shown = [line for line in lines if line]
    error = bool(shown) and shown[0].startswith("! ")
    return "\n".join(line.removeprefix("*** ").removeprefix("! ") for line in shown), (
        error
    )


class WebRenderer:
    """
    Renders each event as one line of JSON (see the module's docstring).

    Guarantees: every event type of L{events.EVENT_TYPES} renders; each
    rendering is one JSON object, UTF-8, with no newline but the one that
    ends it, so any concatenation of renderings splits back into them at
    newlines; the words of people reach the page only in the fields of
    L{PEOPLE_EVENTS} and of a C{backlog}'s lines, never in a server
    C{"text"}.
    """

    def __init__(self) -> None:
        self._by_type: dict[type, Callable[[Any], bytes]] = {
            events.Said: self._said,
        }
        for event_type in events.EVENT_TYPES:
            self._by_type.setdefault(event_type, self._generic)

    def render(self, event: events.Event) -> bytes:
        """The JSON line for C{event}."""
        return self._by_type[type(event)](event)

    @staticmethod
    def _said(event: events.Said) -> bytes:
        # The hot path (a room's lines): no field walking.
        return (
            _encoder.encode({"type": "said", "name": event.name, "texts": event.texts})
            + "\n"
        ).encode("utf-8")

    @staticmethod
    def _generic(event: events.Event) -> bytes:
        message: dict[str, Any] = {"type": type_name(type(event)), **_fields(event)}
        if not isinstance(event, PEOPLE_EVENTS):
            shown, error = _server_text(event)
            message["text"] = shown
            if error:
                message["error"] = True
        if isinstance(event, events.Welcome):
            message["schema"] = SCHEMA_VERSION
        return (_encoder.encode(message) + "\n").encode("utf-8")


#: The one renderer every web member shares, so the fan-out groups them.
WEB_RENDERER = WebRenderer()
