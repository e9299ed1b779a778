"""
Structured logs: JSON-lines log observers for C{twistd --logger}.

    twistd --logger twisted_chat.logs.json_stdout chat ...
    export TWISTED_CHAT_JSON_LOG=/var/log/chat.jsonl
    twistd --logger twisted_chat.logs.json_file chat ...

Each event is one line of JSON with the same fields as the text log
(C{log_format}, C{log_level}, C{log_namespace}, C{log_time}, and the
event's own fields such as C{peer} and C{name}), readable back with
L{twisted.logger.eventsFromJSONLogFile}.
"""

from __future__ import annotations

import os
import sys

from twisted.logger import ILogObserver, jsonFileLogObserver

#: Where L{json_file} writes, unless TWISTED_CHAT_JSON_LOG names a file.
DEFAULT_JSON_LOG = "twistd.jsonl"


def json_stdout() -> ILogObserver:
    """JSON lines on standard output (for journald, containers, pipes)."""
    return jsonFileLogObserver(sys.stdout, recordSeparator="")


def json_file() -> ILogObserver:
    """JSON lines appended to $TWISTED_CHAT_JSON_LOG (default twistd.jsonl)."""
    path = os.environ.get("TWISTED_CHAT_JSON_LOG", DEFAULT_JSON_LOG)
    return jsonFileLogObserver(open(path, "a", encoding="utf-8"), recordSeparator="")
