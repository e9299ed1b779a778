"""
Installed copies are found by twistd, and uninstalling leaves Twisted whole.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support import bin_command, run_command

PROJECT = Path(__file__).resolve().parent.parent
TWISTD_HELP = ["-c", "from twisted.scripts.twistd import run; run()", "--help"]


def listed_plugins(help_text: str) -> set[str]:
    """The subcommand names in C{twistd --help}."""
    commands = help_text.split("Commands:", 1)[1]
    return {line.split()[0] for line in commands.splitlines() if line.strip()}


def test_twistd_lists_chat_from_any_directory(tmp_path: Path) -> None:
    result = run_command([bin_command("twistd"), "--help"], cwd=tmp_path)
    assert result.returncode == 0
    assert "chat" in listed_plugins(result.stdout)


def test_chat_help_lists_every_option(tmp_path: Path) -> None:
    result = run_command([bin_command("twistd"), "chat", "--help"], cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--port", "--server-name", "--max-line-length", "--max-queue"):
        assert option in result.stdout


def make_venv(path: Path) -> Path:
    """A new virtual environment that also sees this one's packages."""
    # No pip or setuptools of its own: those of this environment are used.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True
    )
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Twisted and the build tools come from the environment running the tests,
    # so the test needs no network.
    ours = {sysconfig.get_path("purelib"), *site.getsitepackages()}
    Path(purelib, "outer.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_install_and_uninstall(tmp_path: Path, editable: bool) -> None:
    python = make_venv(tmp_path / "venv")
    target = ["-e", str(PROJECT)] if editable else [str(PROJECT)]
    install = run_command(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            *target,
        ],
        timeout=300,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = run_command([str(python), *TWISTD_HELP], cwd=elsewhere)
    assert "chat" in listed_plugins(listed.stdout), listed.stderr

    removed = run_command(
        [str(python), "-m", "pip", "uninstall", "-y", "-q", "twisted_chat"],
        cwd=tmp_path,
    )
    assert removed.returncode == 0, removed.stderr
    after = run_command([str(python), *TWISTD_HELP], cwd=elsewhere)
    assert after.returncode == 0, after.stderr
    remaining = listed_plugins(after.stdout)
    assert "chat" not in remaining
    assert {"web", "ftp", "conch"} <= remaining
