"""The terminal screen in memory: keystrokes in, a TerminalBuffer out."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.conch.insults import helper
from twisted.internet import defer, task

from twisted_chat import text
from twisted_chat.client.input_line import InputLine
from twisted_chat.client.style import FAINT, NORMAL, NOTICE_COLOUR
from twisted_chat.client.terminal import (
    CURSOR_REPORT_SECONDS,
    ChatTerminal,
    _key,
    name_colour,
    style_line,
)

ALT = _key("ALT")


class Screen(helper.TerminalBuffer):
    """
    TerminalBuffer takes SGR attributes as ints; insults sends strings.
    TerminalBuffer knows no faint: this one keeps where it was drawn.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        self.faint = False
        #: The (column, row) of every character drawn faint, until overdrawn.
        self.faint_cells: set[tuple[int, int]] = set()

    def selectGraphicRendition(self, *attributes: str) -> None:
        for attribute in attributes:
            if attribute in (FAINT, NORMAL):
                self.faint = attribute == FAINT
        super().selectGraphicRendition(*(int(a) for a in attributes if a != FAINT))

    def insertAtCursor(self, b: bytes) -> None:
        if b not in b"\r\n":
            cell = (self.x, self.y)
            if self.faint:
                self.faint_cells.add(cell)
            else:
                self.faint_cells.discard(cell)
        super().insertAtCursor(b)

    def narrow(self, width: int) -> None:
        """A terminal that cuts rows on a resize: the cursor stops at the margin."""
        self.lines = [line[:width] for line in self.lines]
        self.width = width
        self.x = min(self.x, width - 1)


class RewrappingScreen(Screen):
    """A terminal that re-wraps its rows on a resize, as most now do."""

    def narrow(self, width: int) -> None:
        rows: list[list[tuple[object, object]]] = []
        cursor = (0, 0)
        for y, line in enumerate(self.lines):
            used = [i + 1 for i, (char, _) in enumerate(line) if char is not self.void]
            length = max(used, default=0)
            if y == self.y:
                length = max(length, self.x)
                cursor = (self.x % width, len(rows) + self.x // width)
            cells = line[:length]
            rows.extend(cells[i : i + width] for i in range(0, len(cells), width))
            if not cells:
                rows.append([])
        # Empty rows at the bottom go first, then rows scroll off the top.
        while len(rows) > self.height and not rows[-1] and len(rows) - 1 > cursor[1]:
            rows.pop()
        scrolled = max(0, len(rows) - self.height)
        rows = rows[scrolled:]
        rows += [[] for _ in range(self.height - len(rows))]
        self.width = width
        self.lines = [row + self._emptyLine(width - len(row)) for row in rows]
        self.x, self.y = cursor[0], cursor[1] - scrolled


def make(
    colour: bool = True, width: int = 60, screen: Screen | None = None
) -> tuple[ChatTerminal, Screen, list[str], list[int]]:
    typed: list[str] = []
    quits: list[int] = []
    terminal = ChatTerminal(
        typed.append, lambda: quits.append(1), colour, lambda: width, task.Clock()
    )
    screen = screen or Screen()
    screen.width = width
    screen.connectionMade()
    terminal.makeConnection(screen)
    return terminal, screen, typed, quits


def type_text(terminal: ChatTerminal, line: str) -> None:
    for byte in line.encode("utf-8"):
        terminal.keystrokeReceived(bytes([byte]), None)


def rows(screen: Screen) -> list[str]:
    return [row.rstrip() for row in bytes(screen).decode().splitlines()]


def test_incoming_lines_go_above_and_the_half_typed_line_survives() -> None:
    terminal, screen, _, _ = make()
    terminal.set_name("alice")
    type_text(terminal, "hello wor")
    terminal.keystrokeReceived(_key("LEFT_ARROW"), None)
    terminal.show("<bob> hi there")
    terminal.show(text.JOINED.format(name="carol"))
    assert rows(screen)[:3] == [
        "<bob> hi there",
        text.JOINED.format(name="carol"),
        "alice> hello wor",
    ]
    assert screen.reportCursorPosition() == (len("alice> hello wo"), 2)
    type_text(terminal, "X")
    assert terminal.typed == "hello woXr"


def test_nothing_is_cleared_at_start() -> None:
    terminal = ChatTerminal(lambda line: None, lambda: None, True, lambda: 60)
    screen = Screen()
    screen.connectionMade()
    screen.write(b"earlier shell output\n")
    terminal.makeConnection(screen)
    assert rows(screen)[:2] == ["earlier shell output", ">"]


def test_editing_keys() -> None:
    terminal, screen, typed, _ = make()
    type_text(terminal, "abcdef")
    terminal.keystrokeReceived(_key("HOME"), None)
    terminal.keystrokeReceived(_key("DELETE"), None)
    terminal.keystrokeReceived(_key("RIGHT_ARROW"), None)
    type_text(terminal, "X")
    terminal.keystrokeReceived(_key("END"), None)
    terminal.keystrokeReceived(_key("BACKSPACE"), None)
    assert terminal.typed == "bXcde"
    assert terminal.cursor == 5
    terminal.keystrokeReceived(b"\r", None)
    assert typed == ["bXcde"]
    assert rows(screen)[0] == ">"


def test_history_walks_up_and_down_and_ctrl_u_clears() -> None:
    terminal, _, typed, _ = make()
    for line in ("first", "second"):
        type_text(terminal, line)
        terminal.keystrokeReceived(b"\r", None)
    type_text(terminal, "draft")
    terminal.keystrokeReceived(b"\x15", None)  # Ctrl-U
    assert terminal.typed == ""
    terminal.keystrokeReceived(_key("UP_ARROW"), None)
    assert terminal.typed == "second"
    terminal.keystrokeReceived(_key("UP_ARROW"), None)
    terminal.keystrokeReceived(_key("UP_ARROW"), None)
    assert terminal.typed == "first"
    terminal.keystrokeReceived(_key("DOWN_ARROW"), None)
    assert terminal.typed == "second"
    terminal.keystrokeReceived(_key("DOWN_ARROW"), None)
    assert terminal.typed == ""
    assert typed == ["first", "second"]


def test_ctrl_c_and_ctrl_d_quit() -> None:
    terminal, _, _, quits = make()
    terminal.keystrokeReceived(b"\x03", None)
    terminal.keystrokeReceived(b"\x04", None)
    assert quits == [1, 1]


def test_prompt_follows_the_name() -> None:
    terminal, screen, _, _ = make()
    type_text(terminal, "x")
    terminal.set_name("alice")
    assert rows(screen)[0] == "alice> x"


def test_unicode_input_is_decoded_whole() -> None:
    terminal, _, typed, _ = make()
    type_text(terminal, "café")
    terminal.keystrokeReceived(b"\r", None)
    assert typed == ["café"]


def test_long_input_scrolls_sideways_keeping_the_cursor_in_view() -> None:
    terminal, screen, _, _ = make(width=20)
    type_text(terminal, "0123456789" * 5)
    row = rows(screen)[0]
    assert row.startswith("> ") and row.endswith("9")
    assert len(row) < 20
    column, _ = screen.reportCursorPosition()
    assert column < 20


def test_names_in_colour_and_no_colour_when_off() -> None:
    terminal, screen, _, _ = make(colour=True)
    terminal.show("<bob> hello")
    bob = screen.getCharacter(1, 0)[1]
    assert bob.foreground == int(name_colour("bob")) - 30
    terminal.show("! oops")
    assert screen.getCharacter(0, 1)[1].foreground == 1  # red
    plain, plain_screen, _, _ = make(colour=False)
    plain.show("<bob> hello")
    assert plain_screen.getCharacter(1, 0)[1].foreground == helper.WHITE


def test_style_line_recognises_the_shared_formats() -> None:
    assert [piece for piece, _ in style_line("<bob> hi", "alice")] == [
        "<",
        "bob",
        "> hi",
    ]
    notice = style_line(text.JOINED.format(name="x"), "")[0][1]
    for server_line in (
        text.WHO.format(count=2, text="alice, bob"),
        text.NOTICE.format(text="Commands:"),
        text.YOUR_NAME.format(name="alice"),
    ):
        # Not taken for a private line from "*", nor an action.
        assert style_line(server_line, "alice") == [(server_line, notice)]
    assert [piece for piece, _ in style_line("* bob waves", "")] == [
        "* ",
        "bob",
        " waves",
    ]
    assert [piece for piece, _ in style_line("*bob* psst", "")] == [
        "*",
        "bob",
        "* psst",
    ]
    assert name_colour("Bob") == name_colour("bob")


def test_alt_b_and_alt_f_move_by_word_and_type_nothing() -> None:
    """ESC b / ESC f (Alt-B, Alt-F) move the cursor; the letter is not typed."""
    terminal, _screen, typed, _ = make()
    type_text(terminal, "one two, three")
    terminal.keystrokeReceived(b"b", ALT)
    assert (terminal.typed, terminal.cursor) == ("one two, three", 9)
    terminal.keystrokeReceived(b"b", ALT)
    assert terminal.cursor == 4
    terminal.keystrokeReceived(b"f", ALT)
    assert terminal.cursor == 7
    type_text(terminal, "X")
    terminal.keystrokeReceived(b"\r", None)
    assert typed == ["one twoX, three"]


def test_ctrl_left_and_right_move_by_word_too() -> None:
    terminal, _, _, _ = make()
    type_text(terminal, "one two")
    terminal.unhandledControlSequence(b"\x1b[1;5D")
    assert terminal.cursor == 4
    terminal.unhandledControlSequence(b"\x1b[1;5C")
    assert terminal.cursor == 7


def test_ctrl_w_and_alt_backspace_delete_the_word_before_the_cursor() -> None:
    terminal, screen, _, _ = make()
    type_text(terminal, "say hello there")
    terminal.keystrokeReceived(b"\x17", None)  # Ctrl-W
    assert (terminal.typed, terminal.cursor) == ("say hello ", 10)
    terminal.keystrokeReceived(b"\x7f", ALT)  # Alt-Backspace
    assert (terminal.typed, terminal.cursor) == ("say ", 4)
    assert rows(screen)[0] == "> say"


def test_unknown_keys_and_sequences_are_ignored_never_typed() -> None:
    terminal, screen, typed, quits = make()
    type_text(terminal, "ab")
    for key in ("F1", "F12", "INSERT", "PGUP", "PGDN", "TAB"):
        terminal.keystrokeReceived(_key(key), None)
    for letter in (b"x", b"[", b"O", b"\x1b"):
        terminal.keystrokeReceived(letter, ALT)  # Alt-x, and Esc then a key
    for sequence in (b"\x1b[1;2A", b"\x1b[200~", b"\x1b[7^", b"\x1bO"):
        terminal.unhandledControlSequence(sequence)
    terminal.keystrokeReceived(b"\t", None)
    assert (terminal.typed, terminal.cursor) == ("ab", 2)
    assert rows(screen)[0] == "> ab"
    assert (typed, quits) == ([], [])


def test_narrowing_a_rewrapping_terminal_leaves_no_stale_copy_of_the_input() -> None:
    """
    A terminal that re-wraps put the start of the old input line on a row
    above the cursor's: it is erased, and the conversation above stays.
    """
    terminal, screen, _, _ = make(width=60, screen=RewrappingScreen())
    terminal.show("<bob> before the resize")
    terminal.set_name("alice")
    typed = "0123456789" * 5
    type_text(terminal, typed)
    assert rows(screen)[:2] == ["<bob> before the resize", "alice> " + typed]
    screen.narrow(30)
    assert rows(screen)[1:3] == [
        "alice> 01234567890123456789012",
        "345678901234567890123456789",
    ]
    terminal.terminalSize(30, 24)
    visible = typed[-(30 - len("alice> ") - 2) :]
    assert rows(screen)[:3] == ["<bob> before the resize", "alice> " + visible, ""]
    assert screen.reportCursorPosition() == (len("alice> " + visible), 1)
    assert terminal.rewraps is True
    terminal.show("<bob> after it")
    assert rows(screen)[:3] == [
        "<bob> before the resize",
        "<bob> after it",
        "alice> " + visible,
    ]


def test_narrowing_a_cutting_terminal_erases_nothing_above() -> None:
    terminal, screen, _, _ = make(width=60)
    terminal.show("<bob> before the resize")
    type_text(terminal, "0123456789" * 5)
    screen.narrow(30)
    terminal.terminalSize(30, 24)
    assert terminal.rewraps is False
    assert rows(screen)[0] == "<bob> before the resize"
    assert rows(screen)[1] == "> " + ("0123456789" * 5)[-(30 - len("> ") - 2) :]
    assert not any(rows(screen)[2:])


def test_lines_wait_for_the_cursor_report_after_a_resize() -> None:
    """Until the terminal says where its cursor is, nothing is drawn above."""
    terminal, screen, _, _ = make(width=60)
    answer: defer.Deferred[tuple[int, int]] = defer.Deferred()
    screen.reportCursorPosition = lambda: answer  # type: ignore[method-assign]
    type_text(terminal, "0123456789" * 5)
    terminal.terminalSize(30, 24)
    terminal.show("<bob> during the resize")
    assert "<bob> during the resize" not in rows(screen)
    answer.callback((29, 0))
    assert rows(screen)[0] == "<bob> during the resize"


def test_a_terminal_that_never_reports_holds_lines_only_briefly() -> None:
    clock = task.Clock()
    terminal = ChatTerminal(lambda line: None, lambda: None, False, lambda: 60, clock)
    screen = Screen()
    screen.connectionMade()
    terminal.makeConnection(screen)
    screen.reportCursorPosition = defer.Deferred  # type: ignore[method-assign, assignment]
    type_text(terminal, "0123456789" * 5)
    terminal.terminalSize(30, 24)
    terminal.show("<bob> held")
    assert "<bob> held" not in rows(screen)
    clock.advance(CURSOR_REPORT_SECONDS)
    assert rows(screen)[0] == "<bob> held"


SAID = text.HISTORY_SAID.format(time="21:30", name="bob", text="hi <all>")
ACTED = text.HISTORY_ACTED.format(time="2026-11-30 09:05", name="alice", text="waves")
#: The server's notices about rooms, each as the server would send it.
ROOM_NOTICES = (
    text.HISTORY.format(count=2, room="lobby"),
    text.NOW_IN.format(room="lobby", count=3),
    text.TOPIC_IS.format(room="lobby", text="Friday: <release> *day*"),
    text.TOPIC_SET.format(name="bob", text="release day"),
    text.TOPIC_CLEARED.format(name="bob"),
    text.WHO_IN.format(count=2, room="dev", text="alice, bob"),
    text.ROOMS.format(count=2),
    text.ROOM_ENTRY.format(room="dev", count=2),
    text.ROOM_ENTRY_TOPIC.format(room="lobby", count=3, text="release day"),
)


def test_history_lines_are_faint_whole_and_names_keep_their_colour() -> None:
    """Even our own name: faint, in its colour, never bold (bold undoes faint)."""
    for own in ("", "alice", "bob"):
        assert style_line(SAID, own) == [
            ("*** [21:30] <", (FAINT,)),
            ("bob", (FAINT, name_colour("bob"))),
            ("> hi <all>", (FAINT,)),
        ]
        assert style_line(ACTED, own) == [
            ("*** [2026-11-30 09:05] * ", (FAINT,)),
            ("alice", (FAINT, name_colour("alice"))),
            (" waves", (FAINT,)),
        ]


def test_a_history_line_is_history_whatever_its_text_looks_like() -> None:
    """Text that reads like a live line or a notice stays in the faint line."""
    for said in ("<eve> hi", "*** eve has joined", "! oops", "* eve waves"):
        line = text.HISTORY_SAID.format(time="21:30", name="bob", text=said)
        assert all(FAINT in attributes for _, attributes in style_line(line, ""))


def test_the_history_head_and_room_notices_look_like_the_other_events() -> None:
    joined = style_line(text.JOINED.format(name="carol"), "bob")
    assert joined == [(text.JOINED.format(name="carol"), (NOTICE_COLOUR,))]
    for notice in ROOM_NOTICES:
        assert style_line(notice, "bob") == [(notice, (NOTICE_COLOUR,))]


def test_nothing_but_history_is_faint() -> None:
    live = (
        "<bob> hi",
        "* bob waves",
        "*bob* psst",
        "-> *bob* psst",
        text.JOINED.format(name="bob"),
        text.NOTICE.format(text="[21:30] said bob"),
        "! oops",
        "plain",
        *ROOM_NOTICES,
    )
    for line in live:
        assert not any(FAINT in attributes for _, attributes in style_line(line, ""))


_FIELDS = {
    "name": st.from_regex(text.NAME_PATTERN, fullmatch=True),
    "old": st.from_regex(text.NAME_PATTERN, fullmatch=True),
    "new": st.from_regex(text.NAME_PATTERN, fullmatch=True),
    "room": st.from_regex(text.ROOM_PATTERN, fullmatch=True),
    "time": st.from_regex(text.TIME_PATTERN, fullmatch=True),
    "server": st.text(min_size=1),
    "text": st.text(),
    "count": st.integers(0, 10**6),
    "burst": st.integers(0, 10**6),
    "length": st.integers(0, 10**6),
    "rate": st.floats(0, 1000).map(text.plain_number),
    "word": st.from_regex(r"\S*", fullmatch=True),
}


@st.composite
def server_lines(draw: st.DrawFn) -> str:
    """A line of any format the server sends, fields as they may be."""
    line_format = draw(st.sampled_from(text.LINE_FORMATS))
    names = re.findall(r"\{(\w+)\}", line_format.template)
    return line_format.format(**{name: draw(_FIELDS[name]) for name in names})


@given(line=st.one_of(server_lines(), st.text()), own=_FIELDS["name"])
def test_styling_never_changes_the_text(line: str, own: str) -> None:
    """Without colour, every line is shown exactly as received."""
    assert "".join(piece for piece, _ in style_line(line, own)) == line


def test_the_screen_draws_history_faint_and_live_lines_not() -> None:
    """
    Every character of a history line is faint; the head, a live line and
    the prompt are not.
    """
    terminal, screen, _, _ = make(width=60)
    terminal.set_name("alice")
    head = text.HISTORY.format(count=2, room="lobby")
    for line in (head, SAID, ACTED, "<bob> now"):
        terminal.show(line)
    shown = rows(screen)
    assert shown[:5] == [head, SAID, ACTED, "<bob> now", "alice>"]
    for row in (1, 2):
        drawn = {(x, row) for x, char in enumerate(shown[row]) if char != " "}
        assert drawn <= screen.faint_cells
    assert {y for _, y in screen.faint_cells} == {1, 2}
    bob = screen.getCharacter(len("*** [21:30] <"), 1)[1]
    assert (bob.foreground, bob.bold) == (int(name_colour("bob")) - 30, False)


def test_without_colour_history_is_plain_text_as_received() -> None:
    """--no-color, NO_COLOR: the line as it came, no attribute at all."""
    terminal, screen, _, _ = make(colour=False)
    terminal.set_name("bob")
    terminal.show(SAID)
    assert rows(screen)[0] == SAID
    assert screen.faint_cells == set()
    assert not any(
        screen.getCharacter(x, 0)[1].bold
        or screen.getCharacter(x, 0)[1].foreground != helper.WHITE
        for x in range(len(SAID))
    )


def test_lines_with_a_password_never_go_into_the_input_history() -> None:
    """/login, /register and /password are sent but not kept for Up."""
    line = InputLine()
    for typed in (
        "hello",
        "/login alice hunter22",
        "/REGISTER s3cretpass",
        "/password a b",
    ):
        line.replace(typed)
        assert line.submit() == typed
    assert line.older() and line.text == "hello"
    assert not line.older() and line.text == "hello"
