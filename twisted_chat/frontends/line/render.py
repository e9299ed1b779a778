"""
The core's events as lines of text (L{twisted_chat.text}'s formats), for
telnet, nc and the terminal client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted_chat import text
from twisted_chat.core import events


def history_time(when: float, now: float) -> str:
    """C{"21:30"} for a time on the day of C{now}, else C{"2026-11-30 21:30"}."""
    moment, today = time.localtime(when), time.localtime(now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def quiet_notice(limit: int) -> bytes:
    """Why joins and leaves are not announced in a big room."""
    return text.NOTICE.encode(
        text=f"Over {limit} people here: joins and leaves are not announced."
    )


class LineRenderer:
    """
    Renders each event as CRLF-terminated UTF-8 lines.

    Guarantees: every line is built from one of L{text}'s formats, so the
    terminal client parses it back with the same definitions; what people
    said comes only in the shapes of L{text.SAID_FORMATS} and
    L{text.HISTORY_FORMATS}, which no server notice has.
    """

    def __init__(self) -> None:
        self._by_type: dict[type, Callable[[Any], bytes]] = {
            events.Said: self._said,
            events.Acted: lambda e: text.ACTION.encode(name=e.name, text=e.text),
            events.Whispered: lambda e: text.PRIVATE.encode(name=e.name, text=e.text),
            events.WhisperSent: lambda e: text.PRIVATE_SENT.encode(
                name=e.name, text=e.text
            ),
            events.Joined: lambda e: text.JOINED.encode(name=e.name),
            events.Left: lambda e: text.LEFT.encode(name=e.name),
            events.Renamed: lambda e: text.RENAMED.encode(old=e.old, new=e.new),
            events.YourName: lambda e: text.YOUR_NAME.encode(name=e.name),
            events.Welcome: lambda e: text.WELCOME.encode(
                server=e.server, name=e.name, count=e.count
            ),
            events.NowIn: lambda e: text.NOW_IN.encode(room=e.room, count=e.count),
            events.TopicIs: lambda e: text.TOPIC_IS.encode(room=e.room, text=e.topic),
            events.TopicSet: self._topic_set,
            events.Backlog: self._backlog,
            events.NoHistory: lambda e: text.NOTICE.encode(
                text=f"Nothing has been said in #{e.room} yet."
                if e.enabled
                else "History is off on this server."
            ),
            events.Rooms: self._rooms,
            events.Who: self._who,
            events.Quiet: lambda e: quiet_notice(e.limit),
            events.Limits: lambda e: text.LIMITS.encode(
                rate=text.plain_number(e.rate), burst=e.burst, length=e.length
            ),
            events.SlowDown: lambda e: text.SLOW_DOWN.encode(
                rate=text.plain_number(e.rate), burst=e.burst, count=e.count
            ),
            events.LineTooLong: lambda e: text.LINE_TOO_LONG.encode(length=e.length),
            events.UnknownCommand: lambda e: text.UNKNOWN_COMMAND.encode(word=e.word),
            events.Goodbye: lambda e: text.GOODBYE.encode(name=e.name),
            events.Notice: lambda e: text.NOTICE.encode(text=e.text),
            events.Refused: lambda e: text.ERROR.encode(text=e.text),
        }
        missing = set(events.EVENT_TYPES) - set(self._by_type)
        assert not missing, missing

    def render(self, event: events.Event) -> bytes:
        """The lines for C{event}."""
        if type(event) is events.Said:
            return text.MESSAGE.encode_each(event.texts, name=event.name)
        return self._by_type[type(event)](event)

    @staticmethod
    def _said(event: events.Said) -> bytes:
        return text.MESSAGE.encode_each(event.texts, name=event.name)

    @staticmethod
    def _topic_set(event: events.TopicSet) -> bytes:
        if event.topic:
            return text.TOPIC_SET.encode(name=event.name, text=event.topic)
        return text.TOPIC_CLEARED.encode(name=event.name)

    @staticmethod
    def _backlog(event: events.Backlog) -> bytes:
        lines = [text.HISTORY.format(count=len(event.lines), room=event.room)]
        for line in event.lines:
            shape = text.HISTORY_ACTED if line.kind == "acted" else text.HISTORY_SAID
            lines.append(
                shape.format(
                    time=history_time(line.time, event.now),
                    name=line.name,
                    text=line.text,
                )
            )
        return b"".join(map(text.encode_line, lines))

    @staticmethod
    def _rooms(event: events.Rooms) -> bytes:
        lines = [text.ROOMS.format(count=event.count)]
        for room in event.rooms:
            if room.topic:
                lines.append(
                    text.ROOM_ENTRY_TOPIC.format(
                        room=room.name, count=room.count, text=room.topic
                    )
                )
            else:
                lines.append(text.ROOM_ENTRY.format(room=room.name, count=room.count))
        if event.count > len(event.rooms):
            lines.append(
                text.NOTICE.format(text=f"  and {event.count - len(event.rooms)} more")
            )
        return b"".join(map(text.encode_line, lines))

    @staticmethod
    def _who(event: events.Who) -> bytes:
        shown = ", ".join(event.names)
        if event.count > len(event.names):
            shown += f" and {event.count - len(event.names)} more"
        if event.room:
            answer = text.WHO_IN.encode(count=event.count, room=event.room, text=shown)
        else:
            answer = text.WHO.encode(count=event.count, text=shown)
        return answer + quiet_notice(event.quiet_over) if event.quiet_over else answer


#: The one renderer every line member shares, so the fan-out groups them.
LINE_RENDERER = LineRenderer()
