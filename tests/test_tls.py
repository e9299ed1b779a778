"""
TLS end to end: the daemon on an ssl: endpoint beside a plain port, the
client verifying (or refusing) the certificate, and openssl s_client.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.certificates import make_certificates
from tests.support import (
    DEADLINE_SECONDS,
    ChatDaemon,
    bin_command,
    kill_quietly,
    run_command,
    wait_for,
)
from tests.test_client import RunningClient, client_command

StartDaemon = Callable[..., ChatDaemon]


@pytest.fixture
def tls_daemon(
    start_daemon: StartDaemon, tmp_path: Path
) -> tuple[ChatDaemon, int, Path]:
    """A daemon with a plain port and a TLS port; the TLS port and the CA."""
    paths = make_certificates(tmp_path)
    daemon = start_daemon(
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--port",
        f"ssl:0:interface=127.0.0.1:privateKey={paths['key']}:certKey={paths['cert']}",
    )
    listening = wait_for(
        lambda: re.search(r"listening on ssl\S* \((\d+)\)", daemon.log()),
        what="the TLS port",
    )
    tls_port = int(listening.group(1))
    return daemon, tls_port, paths["ca"]


def test_client_over_tls_reaches_plain_clients(
    tls_daemon: tuple[ChatDaemon, int, Path],
) -> None:
    daemon, tls_port, ca = tls_daemon
    plain = daemon.connect()
    client = RunningClient("localhost", tls_port, "--tls", "--ca", ca, "--nick", "sec")
    client.wait_for_line("*** You are now known as sec")
    client.type("hello over tls")
    plain.expect(r"^<sec> hello over tls$")
    plain.send("hello back in the clear")
    client.wait_for_line("<guest1> hello back in the clear")
    assert client.process.stdin is not None
    client.process.stdin.close()
    status, errors = client.finish()
    assert (status, errors) == (0, "")


@pytest.mark.parametrize(
    ("host", "trust_our_ca", "reason"),
    [
        ("127.0.0.1", True, "the server's certificate is not for this host name"),
        ("localhost", False, "certificate verify failed"),
    ],
    ids=["wrong-host", "untrusted"],
)
def test_a_certificate_that_fails_verification_is_one_line_and_status_one(
    tls_daemon: tuple[ChatDaemon, int, Path], host: str, trust_our_ca: bool, reason: str
) -> None:
    daemon, tls_port, ca = tls_daemon
    trust = ["--ca", ca] if trust_our_ca else []
    result = run_command(client_command(host, tls_port, "--tls", *trust), input="")
    assert result.returncode == 1
    prefix = f"twisted_chat.client: cannot connect to {host}:{tls_port}"
    assert result.stderr == f"{prefix}: TLS failed: {reason}\n"
    assert daemon.process is not None and daemon.process.poll() is None


def test_insecure_skips_verification_with_a_warning(
    tls_daemon: tuple[ChatDaemon, int, Path],
) -> None:
    _, tls_port, _ = tls_daemon
    client = RunningClient("localhost", tls_port, "--tls", "--insecure")
    client.wait_for_line(
        "*** Welcome to testhost, guest1! 1 here now. Type /help for commands."
    )
    assert client.process.stdin is not None
    client.process.stdin.close()
    status, errors = client.finish()
    assert status == 0
    assert errors.startswith("twisted_chat.client: warning: --insecure:")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_s_client_is_a_client_too(
    tls_daemon: tuple[ChatDaemon, int, Path],
) -> None:
    daemon, tls_port, ca = tls_daemon
    plain = daemon.connect()
    process = subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-quiet",
            "-CAfile",
            str(ca),
            "-connect",
            f"127.0.0.1:{tls_port}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        assert process.stdout.readline().startswith(b"*** Welcome to testhost")
        process.stdin.write(b"/nick ossl\nfrom openssl\n")
        process.stdin.flush()
        plain.expect(r"^<ossl> from openssl$")
        # -quiet ignores the end of input: /quit has the server close instead.
        process.stdin.write(b"/quit\n")
        process.stdin.flush()
        assert process.wait(DEADLINE_SECONDS) == 0
    finally:
        kill_quietly(process)


@pytest.fixture
def without_pyopenssl(tmp_path: Path) -> dict[str, str]:
    """An environment in which "import OpenSSL" fails, as without the tls extra."""
    package = tmp_path / "blocked" / "OpenSSL"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise ImportError(\"No module named 'OpenSSL' (blocked by the test)\")\n"
    )
    return {"PYTHONPATH": str(package.parent)}


def test_without_the_tls_extra_plain_chat_works_and_tls_says_what_to_install(
    start_daemon: StartDaemon, tmp_path: Path, without_pyopenssl: dict[str, str]
) -> None:
    daemon = start_daemon(env=without_pyopenssl)
    maps = Path(f"/proc/{daemon.pid}/maps").read_text()
    assert "OpenSSL" not in maps and "cryptography" not in maps
    first, second = daemon.connect(), daemon.connect()
    first.send("plain text still flows")
    second.expect(r"^<guest\d+> plain text still flows$")

    install = "TLS needs pyOpenSSL: pip install 'twisted_chat[tls]'"
    served = run_command(
        [bin_command("twistd"), "-n", "--pidfile=", "chat", "--port", "ssl:0"],
        cwd=tmp_path,
        env=without_pyopenssl,
    )
    assert served.returncode == 1
    assert served.stderr.splitlines() == [
        f"twistd chat: invalid --port 'ssl:0': {install}"
    ]
    linked = run_command(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "chat",
            "--redis",
            "rediss://:secret@127.0.0.1:1",
        ],
        cwd=tmp_path,
        env=without_pyopenssl,
    )
    assert linked.returncode == 1
    assert linked.stderr.splitlines() == [
        f"twistd chat: --redis rediss://:***@127.0.0.1:1/0: {install}"
    ]
    joined = run_command(
        client_command("127.0.0.1", daemon.port, "--tls"), env=without_pyopenssl
    )
    assert joined.returncode == 1
    assert joined.stderr.splitlines() == [f"twisted_chat.client: {install}"]
