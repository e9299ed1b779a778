"""The code stays lint-clean, formatted and type-checked."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import run_command

PROJECT = Path(__file__).resolve().parent.parent


def test_ruff_check() -> None:
    result = run_command([sys.executable, "-m", "ruff", "check", "."], cwd=PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run_command(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=PROJECT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run_command([sys.executable, "-m", "mypy"], cwd=PROJECT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
