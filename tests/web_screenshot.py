"""
Takes the README's screenshot of the browser page: a real daemon, telnet
users talking, some history and a room list, and the page in Chromium.

    python -m tests.web_screenshot docs/web-page.png [docs/web-page-phone.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.support import LineClient, wait_for
from tests.web_support import WebDaemon, chromium_path, log_texts


def person(daemon: WebDaemon, name: str) -> LineClient:
    client = daemon.connect()
    client.nick(name)
    return client


def take(paths: list[Path]) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work:
        daemon = WebDaemon(Path(work), "--history", "20", "--server-name", "lan-chat")
        daemon.start()
        try:
            alice, bob = person(daemon, "alice"), person(daemon, "bob")
            dev = person(daemon, "dana")
            dev.send("/join dev")
            dev.send("/topic builds and releases")
            dev.expect(r"set the topic")
            ops = person(daemon, "oscar")
            ops.send("/join ops")
            ops.expect(r"You are in #ops")
            alice.send("/topic Friday: demo at 15:00, cake after")
            alice.send("morning! who is coming to the demo?")
            bob.expect(r"^<alice> morning!")
            bob.send("me, after lunch")
            bob.send("/me brings the projector")
            alice.expect(r"^\* bob brings the projector$")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium_path(), headless=True
                )
                for index, path in enumerate(paths):
                    phone = index == 1
                    page = browser.new_page(
                        viewport={"width": 390, "height": 760}
                        if phone
                        else {"width": 1100, "height": 620},
                        device_scale_factor=2 if phone else 1,
                    )
                    page.goto(daemon.url)
                    page.locator("#rooms button", has_text="#ops").wait_for(
                        state="attached"
                    )
                    if index == 0:
                        page.fill("#input", "/nick carol")
                        page.press("#input", "Enter")
                        alice.expect(r"is now known as carol$")
                        page.fill("#input", "count me in, I'll bring the slides")
                        page.press("#input", "Enter")
                        alice.expect(r"^<carol> count me in")
                        alice.send("great, carol: <b>thanks</b>!")
                        bob.send("/msg carol can you also bring the adapter?")
                        wait_for(
                            lambda p=page: any(
                                "adapter" in line for line in log_texts(p)
                            ),
                            what="the private line",
                        )
                        page.fill("#input", "/msg bob sure")
                    else:
                        page.click("#panel-toggle")
                        alice.send("the page works on a phone too")
                        wait_for(
                            lambda p=page: any(
                                "phone too" in line for line in log_texts(p)
                            ),
                            what="the line",
                        )
                    page.screenshot(path=str(path))
                    page.close()
                browser.close()
        finally:
            daemon.stop(strict=False)


if __name__ == "__main__":
    take([Path(argument) for argument in sys.argv[1:]] or [Path("web-page.png")])
