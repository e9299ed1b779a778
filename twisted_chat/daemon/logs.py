"""
Structured logs: JSON-lines log observers for C{twistd --logger}.

    twistd --logger twisted_chat.daemon.logs.json_stdout chat ...
    export TWISTED_CHAT_JSON_LOG=/var/log/chat.jsonl
    twistd --logger twisted_chat.daemon.logs.json_file chat ...

(The older paths C{twisted_chat.logs.json_stdout} and
C{twisted_chat.logs.json_file} name the same observers.)

Each event is one line of JSON with the same fields as the text log
(C{log_format}, C{log_level}, C{log_namespace}, C{log_time}, and the
event's own fields such as C{peer} and C{name}), readable back with
L{twisted.logger.eventsFromJSONLogFile}.

The file of L{json_file} rotates on SIGUSR1 as twistd's C{--logfile} does
(C{chat.jsonl} becomes C{chat.jsonl.1}, an older C{.1} becomes C{.2}, ...),
through L{rotate_files}; if something else (logrotate) has already moved
the file away, it is reopened instead, so either way of rotating works.
"""

from __future__ import annotations

import os
import sys

from twisted.logger import ILogObserver, jsonFileLogObserver
from twisted.python.logfile import LogFile

#: Where L{json_file} writes, unless TWISTED_CHAT_JSON_LOG names a file.
DEFAULT_JSON_LOG = "twistd.jsonl"


class RotatingLogFile(LogFile):
    """
    A L{LogFile} that rotates only when told to (L{rotate_or_reopen}),
    never by size, and that copes with its file having been moved away.
    """

    def __init__(self, name: str, directory: str) -> None:
        super().__init__(name, directory, rotateLength=None)

    def rotate_or_reopen(self) -> str:
        """
        Rotate the file (C{path} becomes C{path.1}); if it is no longer at
        its path (an external tool moved it), start a new one there instead.
        What was done, in a few words.
        """
        if not os.path.exists(self.path):
            self.reopen()
            return f"reopened {self.path} (moved away)"
        before = self._file
        self.rotate()
        if self._file is before:  # LogFile.rotate gives up without a word
            return f"could not rotate {self.path} (not writable)"
        return f"rotated {self.path} to {self.path}.1"


#: The files L{json_file} observers write to, for L{rotate_files}.
_files: list[RotatingLogFile] = []


def json_stdout() -> ILogObserver:
    """JSON lines on standard output (for journald, containers, pipes)."""
    return jsonFileLogObserver(sys.stdout, recordSeparator="")


def json_file() -> ILogObserver:
    """
    JSON lines appended to $TWISTED_CHAT_JSON_LOG (default twistd.jsonl),
    rotated by L{rotate_files} (the daemon calls it on SIGUSR1).
    """
    path = os.path.abspath(os.environ.get("TWISTED_CHAT_JSON_LOG", DEFAULT_JSON_LOG))
    log_file = RotatingLogFile(os.path.basename(path), os.path.dirname(path))
    _files.append(log_file)
    return jsonFileLogObserver(log_file, recordSeparator="")  # type: ignore[arg-type]


def rotate_files() -> list[str]:
    """
    Rotate every file a L{json_file} observer writes; what was done, one
    entry per file (empty: no such file, nothing to rotate).
    """
    return [log_file.rotate_or_reopen() for log_file in _files]
