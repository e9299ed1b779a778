"""README.rst stays true about how to set up and test."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def top_commands() -> list[str]:
    """The indented command lines before the first horizontal rule."""
    head = (PROJECT / "README.rst").read_text().split("----", 1)[0]
    return [line.strip() for line in head.splitlines() if line.startswith("    ")]


def test_readme_starts_with_exactly_two_commands() -> None:
    install_and_start, install_and_test = top_commands()
    assert "twistd -n chat" in install_and_start
    assert "pytest" in install_and_test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = (PROJECT / ".ci" / "run").read_text().splitlines()
    assert top_commands()[1] in ci_lines
