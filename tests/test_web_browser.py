"""
The browser page in a real browser: headless Chromium (the system's, driven
by Playwright) against the real daemon, beside telnet users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.certificates import make_certificates
from tests.support import ChatDaemon, LineClient, wait_for
from tests.web_support import WebDaemon, free_port, log_texts
from twisted_chat.client.style import NAME_COLOURS, name_colour

#: The page's class for each of the terminal client's name colours.
COLOUR_CLASSES = dict(
    zip(NAME_COLOURS, ["green", "yellow", "blue", "magenta", "red"], strict=True)
)

StartWeb = Callable[..., WebDaemon]


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[StartWeb]:
    started: list[WebDaemon] = []

    def start(*options: str, **keywords: Any) -> WebDaemon:
        workdir = tmp_path / f"d{len(started)}"
        workdir.mkdir()
        daemon = WebDaemon(workdir, *options, **keywords)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop(strict=False)


class Watched:
    """A page, with what it must never do recorded: dialogs, errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.problems: list[str] = []

        def dialog(shown: Any) -> None:
            self.dialogs.append(shown.message)
            shown.dismiss()

        page.on("dialog", dialog)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                self.problems.append(message.text) if message.type == "error" else None
            ),
        )

    def wait_line(self, text: str, timeout: float = 15) -> None:
        """Wait until a line of the conversation shows exactly C{text}."""
        wait_for(lambda: text in log_texts(self.page), timeout, f"the line {text!r}")

    def type_line(self, line: str) -> None:
        self.page.fill("#input", line)
        self.page.press("#input", "Enter")


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Watched]]:
    """Open the page of a daemon in a fresh browser context."""
    contexts: list[Any] = []

    def open_(daemon: WebDaemon, **options: Any) -> Watched:
        context = browser.new_context(**options)
        contexts.append(context)
        watched = Watched(context.new_page())
        watched.page.goto(daemon.url)
        return watched

    yield open_
    for context in contexts:
        context.close()


def telnet(daemon: ChatDaemon, name: str) -> LineClient:
    client = daemon.connect()
    client.nick(name)
    return client


def test_a_telnet_user_and_a_browser_user_talk_both_ways(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web("--history", "20")
    tel = telnet(daemon, "tel")
    tel.send("said before the page opened")
    tel.send("/me waves")
    web = open_page(daemon)
    page = web.page
    # History on load, set apart from what is live.
    web.wait_line("tel: said before the page opened")
    web.wait_line("* tel waves")
    assert page.locator("#log li.history").count() == 2
    tel.expect(r"^\*\*\* guest2 has joined$")
    web.type_line("/nick webby")
    web.wait_line("You are now known as webby")
    web.type_line("hello from the browser")
    tel.expect(r"^<webby> hello from the browser$")
    tel.send("hello from telnet")
    web.wait_line("tel: hello from telnet")
    # Own lines marked; names in the terminal client's colours.
    own = page.locator("#log li.own")
    assert own.last.text_content().endswith("webby: hello from the browser")
    for name in ("tel", "webby"):
        colour = COLOUR_CLASSES[name_colour(name)]
        spans = page.locator(f"#log .name.n-{colour}", has_text=name)
        assert spans.count() >= 1, (name, colour)
    # New live lines reach screen readers.
    assert "tel: hello from telnet" in page.inner_text("#announce")
    assert page.get_attribute("#log", "role") == "log"
    # Who is here, and a private line.
    wait_for(
        lambda: sorted(page.locator("#who li").all_inner_texts()) == ["tel", "webby"],
        what="who",
    )
    tel.send("/msg webby just you")
    web.wait_line("private from tel: just you")
    assert web.problems == [] and web.dialogs == []


def test_a_room_switch_in_the_page(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web()
    tel = telnet(daemon, "tel")
    tel.send("/join dev")
    tel.expect(r"^\*\*\* You are in #dev")
    tel.send("/topic the dev room")
    tel.expect(r"set the topic")
    web = open_page(daemon)
    page = web.page
    dev = page.locator("#rooms button", has_text="#dev")
    dev.wait_for()
    assert "1 here" in dev.inner_text() and "the dev room" in dev.inner_text()
    dev.click()
    web.wait_line("You are in #dev: 2 here")
    assert page.inner_text("#room-name") == "#dev"
    assert page.inner_text("#topic") == "the dev room"
    wait_for(lambda: "tel" in page.locator("#who li").all_inner_texts(), what="who")
    tel.expect(r"^\*\*\* guest2 has joined$")
    tel.send("in dev now")
    web.wait_line("tel: in dev now")
    assert (
        page.get_attribute("#rooms button:has-text('#dev')", "aria-current") == "true"
    )


def test_the_page_works_from_the_keyboard_alone(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web()
    tel = telnet(daemon, "tel")
    tel.send("/join dev")
    tel.expect(r"^\*\*\* You are in #dev")
    web = open_page(daemon)
    page = web.page
    page.locator("#rooms button", has_text="#dev").wait_for()
    # The message line has the focus; Up and Down go through what was sent.
    assert page.evaluate("document.activeElement.id") == "input"
    for line in ("first", "second"):
        page.keyboard.type(line)
        page.keyboard.press("Enter")
    page.keyboard.press("ArrowUp")
    assert page.input_value("#input") == "second"
    page.keyboard.press("ArrowUp")
    assert page.input_value("#input") == "first"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.input_value("#input") == ""
    # Tab reaches the room list; Enter joins.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.room") == "dev":
            break
    page.keyboard.press("Enter")
    web.wait_line("You are in #dev: 2 here")
    # Escape comes back to the message line.
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "input"


def test_markup_shows_as_text_and_runs_nothing(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web("--history", "5")
    tel = telnet(daemon, "tel")
    tel.send("<b>bold?</b> in history")
    web = open_page(daemon)
    page = web.page
    web.wait_line("tel: <b>bold?</b> in history")
    image = "<img src=x onerror=alert(1)>"
    script = "<script>alert(1)</script>"
    tel.send(image)
    tel.send(script)
    tel.send(f"/topic {image}")
    tel.send(f"/me {script}")
    web.wait_line(f"tel: {image}")
    web.wait_line(f"tel: {script}")
    web.wait_line(f"* tel {script}")
    web.type_line(f"{image} from the page")
    tel.expect(r"^<guest2> <img src=x onerror=alert\(1\)> from the page$")
    assert page.inner_text("#topic") == image
    # Nothing became markup, nothing ran.
    assert page.locator("#log img, #log script, #log b, #topic img").count() == 0
    assert page.evaluate("document.querySelectorAll('img, b').length") == 0
    assert page.evaluate("[...document.scripts].map(s => s.getAttribute('src'))") == [
        "chat.js"
    ]
    assert web.dialogs == []
    assert web.problems == []


def test_the_page_reconnects_by_itself_after_the_daemon_restarts(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    port = free_port()
    first = start_web(web_port=port)
    web = open_page(first)
    page = web.page
    web.wait_line("You are in #lobby: 1 here")
    web.type_line("/nick webby")
    web.wait_line("You are now known as webby")
    web.type_line("/join dev")
    web.wait_line("You are in #dev: 1 here")
    first.stop()
    web.wait_line("server shutting down")
    wait_for(lambda: "reconnecting" in page.inner_text("#status"), what="the status")
    web.wait_line("Connection lost; reconnecting in a moment.")
    second = start_web(web_port=port)
    web.wait_line("Connected again.")
    assert page.inner_text("#status") == "Connected"
    # The page asked for its name and its room back.
    wait_for(lambda: page.inner_text("#room-name") == "#dev", what="the room")
    tel = telnet(second, "tel")
    tel.send("/who dev")
    tel.expect(r"^\*\*\* 1 in #dev: webby$")
    tel.send("/join dev")
    web.wait_line("tel has joined")
    web.type_line("back again")
    tel.expect(r"^<webby> back again$")


def test_a_session_the_server_ends_is_not_reopened_by_itself(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web()
    web = open_page(daemon)
    page = web.page
    web.wait_line("You are in #lobby: 1 here")
    web.type_line("/quit")
    web.wait_line("Disconnected by the server.")
    assert page.inner_text("#status") == "Disconnected"
    assert page.inner_text("#reconnect") == "Connect again"
    page.click("#reconnect")
    web.wait_line("Connected again.")


def test_the_page_fits_a_phone(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    daemon = start_web()
    web = open_page(daemon, viewport={"width": 360, "height": 640}, has_touch=True)
    page = web.page
    web.wait_line("You are in #lobby: 1 here")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.locator("#input").is_visible()
    box = page.locator("#input").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 640
    # The side panel is a toggle on a small screen.
    assert not page.locator("#rooms").is_visible()
    page.click("#panel-toggle")
    assert page.locator("#rooms").is_visible()
    assert page.get_attribute("#panel-toggle", "aria-expanded") == "true"
    # With the panel open, many lines scroll in the conversation, the
    # newest in sight above the message line.
    tel = telnet(daemon, "tel")
    for n in range(18):  # within the default burst
        tel.send(f"line {n}")
    web.wait_line("tel: line 17")
    last = page.locator("#log li").last.bounding_box()
    form = page.locator("#form").bounding_box()
    assert last is not None and form is not None
    assert last["y"] + last["height"] <= form["y"] + 1
    assert page.locator("#log li").last.is_visible()
    assert page.evaluate("document.documentElement.scrollHeight") <= 640
    assert web.problems == []


def test_the_page_over_tls(
    start_web: StartWeb, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    """An ssl: endpoint: https, and wss for the WebSocket, from the same origin."""
    daemon = start_web(certificates=make_certificates(tmp_path))
    tel = telnet(daemon, "tel")
    web = open_page(daemon, ignore_https_errors=True)
    assert web.page.url.startswith("https://localhost:")
    web.wait_line("You are in #lobby: 2 here")
    web.type_line("over wss")
    tel.expect(r"^<guest2> over wss$")
    tel.send("and back")
    web.wait_line("tel: and back")
    web.type_line("/quit")
    web.wait_line("Disconnected by the server.")
    tel.expect(r"^\*\*\* guest2 has left$")


def test_every_name_has_the_terminal_client_colour(
    start_web: StartWeb, open_page: Callable[..., Watched]
) -> None:
    """The page's hash and palette are the terminal client's, name for name."""
    daemon = start_web()
    web = open_page(daemon)
    names = [
        f"{stem}{n}" for stem in ("guest", "Alice", "b.o-b_", "Z") for n in range(50)
    ]
    colours = web.page.evaluate(
        "async names => (await import('./colours.js')).NAME_COLOURS.length === 5 &&"
        " names.map((await import('./colours.js')).nameColour)",
        names,
    )
    assert colours == [COLOUR_CLASSES[name_colour(name)] for name in names]
