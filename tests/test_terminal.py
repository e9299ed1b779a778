"""The terminal screen in memory: keystrokes in, a TerminalBuffer out."""

from __future__ import annotations

from twisted.conch.insults import helper

from twisted_chat import text
from twisted_chat.terminal import ChatTerminal, _key, name_colour, style_line


class Screen(helper.TerminalBuffer):
    """TerminalBuffer takes SGR attributes as ints; insults sends strings."""

    def selectGraphicRendition(self, *attributes: str) -> None:
        super().selectGraphicRendition(*(int(a) for a in attributes))


def make(
    colour: bool = True, width: int = 60
) -> tuple[ChatTerminal, Screen, list[str], list[int]]:
    typed: list[str] = []
    quits: list[int] = []
    terminal = ChatTerminal(
        typed.append, lambda: quits.append(1), colour, lambda: width
    )
    screen = Screen()
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
    terminal.show("* carol has joined")
    assert rows(screen)[:3] == [
        "<bob> hi there",
        "* carol has joined",
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
    who = text.WHO.format(count=2, text="alice, bob")
    assert style_line(who, "alice") == [(who, style_line("* x has joined", "")[0][1])]
    assert len(style_line("* bob waves", "")) == 3
    assert name_colour("Bob") == name_colour("bob")
