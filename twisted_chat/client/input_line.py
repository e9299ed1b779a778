"""
The line being typed in the terminal client: its text, its cursor and the
history of lines sent, edited key by key; nothing here draws.
"""

from __future__ import annotations

HISTORY_LIMIT = 500


class InputLine:
    """
    One editable line and its history.

    Guarantees: the cursor stays within the text; every editing method
    returns whether the text or the cursor changed, so a screen redraws only
    then; a word (for Alt-B, Alt-F, Ctrl-W) is a run of letters and digits,
    as in readline; the history keeps the last L{HISTORY_LIMIT} distinct
    lines sent, and walking it (Up, Down) ends on an empty line.
    """

    def __init__(self, history_limit: int = HISTORY_LIMIT) -> None:
        self.chars: list[str] = []
        self.cursor = 0
        self._history: list[str] = []
        self._history_position = 0
        self._history_limit = history_limit

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def insert(self, typed: str) -> bool:
        for char in typed:
            self.chars.insert(self.cursor, char)
            self.cursor += 1
        return bool(typed)

    def move(self, position: int) -> bool:
        position = max(0, min(position, len(self.chars)))
        changed = position != self.cursor
        self.cursor = position
        return changed

    def left(self) -> bool:
        return self.move(self.cursor - 1)

    def right(self) -> bool:
        return self.move(self.cursor + 1)

    def home(self) -> bool:
        return self.move(0)

    def end(self) -> bool:
        return self.move(len(self.chars))

    def word_left(self) -> bool:
        return self.move(self._word_start())

    def word_right(self) -> bool:
        position, chars = self.cursor, self.chars
        while position < len(chars) and not chars[position].isalnum():
            position += 1
        while position < len(chars) and chars[position].isalnum():
            position += 1
        return self.move(position)

    def backspace(self) -> bool:
        if not self.cursor:
            return False
        self.cursor -= 1
        del self.chars[self.cursor]
        return True

    def delete(self) -> bool:
        if self.cursor >= len(self.chars):
            return False
        del self.chars[self.cursor]
        return True

    def delete_word(self) -> bool:
        """Delete the word before the cursor (and what separates it from it)."""
        start = self._word_start()
        if start == self.cursor:
            return False
        del self.chars[start : self.cursor]
        self.cursor = start
        return True

    def clear(self) -> bool:
        return self.replace("")

    def older(self) -> bool:
        if self._history_position <= 0:
            return False
        self._history_position -= 1
        return self.replace(self._history[self._history_position])

    def newer(self) -> bool:
        if self._history_position >= len(self._history):
            return False
        self._history_position += 1
        if self._history_position < len(self._history):
            return self.replace(self._history[self._history_position])
        return self.replace("")

    def replace(self, line: str) -> bool:
        changed = line != self.text or self.cursor != len(line)
        self.chars = list(line)
        self.cursor = len(self.chars)
        return changed

    def submit(self) -> str:
        """The line as typed; the input is emptied, the line goes into the history."""
        line = self.text
        self.chars, self.cursor = [], 0
        if (
            line.strip()
            and not holds_password(line)
            and (not self._history or self._history[-1] != line)
        ):
            self._history.append(line)
            del self._history[: -self._history_limit]
        self._history_position = len(self._history)
        return line

    def _word_start(self) -> int:
        """Where the word before the cursor starts (where Alt-B moves)."""
        position, chars = self.cursor, self.chars
        while position > 0 and not chars[position - 1].isalnum():
            position -= 1
        while position > 0 and chars[position - 1].isalnum():
            position -= 1
        return position


#: Commands whose arguments hold a password: never kept in the history.
PASSWORD_COMMANDS = ("/login", "/register", "/password")


def holds_password(line: str) -> bool:
    """Whether C{line} is a command that carries a password."""
    word = line.strip().split(" ", 1)[0].lower()
    return word in PASSWORD_COMMANDS
