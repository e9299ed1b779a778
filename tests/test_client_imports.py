"""
The terminal client shares only the line formats and the cleaning of text
with the rest of the package: importing all of it loads none of the
server's modules.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.support import run_command

#: The server's modules, and the packages the server is moving into.
SERVER_MODULES = frozenset(
    f"twisted_chat.{name}"
    for name in (
        "room",
        "protocol",
        "server",
        "commands",
        "tap",
        "outbound",
        "backpressure",
        "flood",
        "telnet",
        "probe",
        "core",
        "session",
        "frontends",
        "store",
        "daemon.service",
        "daemon.config",
        "daemon.metrics",
    )
)
#: What the client may import from outside twisted_chat.client: the shared
#: formats, cleaning and command syntax, and the signal handlers that run in
#: the reactor (the daemon package's __init__ imports nothing).
SHARED = frozenset(
    {
        "twisted_chat",
        "twisted_chat.text",
        "twisted_chat.syntax",
        "twisted_chat.daemon",
        "twisted_chat.daemon.signals",
    }
)

# Every module of the client (but __main__, which would run it), imported
# in a fresh interpreter; then the names of all twisted_chat modules loaded.
IMPORT_THE_CLIENT = """
import json, pkgutil, sys
import twisted_chat.client as client
for module in pkgutil.walk_packages(client.__path__, "twisted_chat.client."):
    if not module.name.endswith(".__main__"):
        __import__(module.name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "twisted_chat")))
"""


@pytest.fixture(scope="module")
def loaded() -> set[str]:
    """The twisted_chat modules loaded by importing all of the client."""
    result = run_command([sys.executable, "-c", IMPORT_THE_CLIENT])
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return set(loaded)


def test_the_client_imports_none_of_the_servers_modules(loaded: set[str]) -> None:
    assert "twisted_chat.client.main" in loaded  # the walk did import it all
    server_side = {
        name
        for name in loaded
        if any(name == m or name.startswith(f"{m}.") for m in SERVER_MODULES)
    }
    assert server_side == set()


def test_outside_its_package_the_client_imports_only_what_it_shares(
    loaded: set[str],
) -> None:
    outside = {
        name
        for name in loaded
        if name != "twisted_chat.client" and not name.startswith("twisted_chat.client.")
    }
    assert outside == SHARED
