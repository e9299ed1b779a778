"""
Installed copies are found by twistd, ship every module and run every
documented command, and uninstalling leaves Twisted whole; however this
environment has the project installed (editable or not).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import bin_command, run_command

PROJECT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "twisted_chat"
PLUGIN = "twisted/plugins/twisted_chat_plugin.py"
TWISTD = ["-c", "from twisted.scripts.twistd import run; run()"]
#: What a build of the source tree leaves in it; never part of a copy.
BUILD_LEFTOVERS = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "__pycache__", "dropin.cache"
)
#: What Python and Twisted's plugin scan write beside the modules they read.
CACHES = {"__pycache__", "dropin.cache"}


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


def test_the_module_the_plugin_names_is_the_daemon_package() -> None:
    """twistd's plugin names twisted_chat.tap: it re-exports, nothing more."""
    from twisted_chat import tap
    from twisted_chat.daemon import options, service

    assert tap.__all__ == ["Options", "makeService"]
    assert (tap.Options, tap.makeService) == (options.Options, service.makeService)


def source_files() -> list[str]:
    """The files of the source tree (relative, POSIX) but build leftovers."""
    found = []
    for directory, subdirectories, files in os.walk(PROJECT):
        skipped = BUILD_LEFTOVERS(directory, [*subdirectories, *files])
        subdirectories[:] = [name for name in subdirectories if name not in skipped]
        root = Path(directory).relative_to(PROJECT)
        found += [(root / name).as_posix() for name in files if name not in skipped]
    return sorted(found)


def tracked_files() -> list[str]:
    """The files git tracks, or outside a git checkout L{source_files}."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=False
    )
    if listing.returncode != 0:
        return source_files()
    names = listing.stdout.decode().split("\0")
    return sorted(name for name in names if name and (PROJECT / name).is_file())


def copy_project(destination: Path) -> Path:
    """
    The source tree as C{pip install .} sees it, without what earlier builds
    left in it: a build from the copy cannot pick up stale files, and
    writes nothing into the tree.
    """
    for name in source_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, target)
    return destination


def distribution_files(site_dir: Path) -> set[Path]:
    """The files this project's distribution installed into C{site_dir}."""
    found: set[Path] = set()
    for distribution in importlib.metadata.distributions(path=[str(site_dir)]):
        if distribution.metadata["Name"].replace("-", "_") == DISTRIBUTION:
            for name in distribution.files or ():
                found.add(Path(os.path.normpath(site_dir / name)))
    return found


def only_ours(directory: Path, ours: set[Path]) -> bool:
    """Whether every file in C{directory} (caches aside) is one of C{ours}."""
    return all(
        entry in ours
        or entry.name in CACHES
        or (entry.is_dir() and only_ours(entry, ours))
        for entry in directory.iterdir()
    )


def mirror_without(source: Path, target: Path, ours: set[Path]) -> None:
    """
    Make C{target} show every file of C{source} through symbolic links, but
    for C{ours}: a directory holding none of them is one link, one holding
    only them is left out, any other is mirrored the same way. Caches inside
    a mirrored directory are left out too (Twisted's dropin.cache lists the
    plugins it has seen; Python rewrites bytecode).
    """
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry in ours or entry.name in CACHES:
            continue
        holds_ours = any(entry in path.parents for path in ours)
        if not holds_ours:
            (target / entry.name).symlink_to(entry)
        elif not only_ours(entry, ours):
            mirror_without(entry, target / entry.name, ours)


def outer_site_dirs() -> list[Path]:
    """This environment's site directories, each once."""
    found: dict[Path, None] = {}
    for name in (sysconfig.get_path("purelib"), *site.getsitepackages()):
        path = Path(name)
        if path.is_dir():
            found.setdefault(path.resolve())
    return list(found)


def make_venv(path: Path) -> Path:
    """
    A new virtual environment that sees this one's packages (Twisted, pip,
    setuptools: so nothing is fetched from the network), but not this
    project itself, however this environment has it installed: a
    non-editable install puts the plugin inside Twisted's own
    twisted/plugins/, where the new environment would still find it after
    uninstalling its own copy.
    """
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
    views = []
    for number, site_dir in enumerate(outer_site_dirs()):
        view = path.parent / f"{path.name}-outer-{number}"
        mirror_without(site_dir, view, distribution_files(site_dir))
        views.append(str(view))
    Path(purelib, "outer.pth").write_text("\n".join(views) + "\n")
    return python


def run_isolated(
    python: Path, arguments: Sequence[str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """C{python} with C{arguments}, seeing nothing of the source tree."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    }
    environment["PYTHONNOUSERSITE"] = "1"
    return subprocess.run(
        [str(python), *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pip(python: Path, *arguments: str, cwd: Path) -> None:
    """Run pip offline in the environment of C{python}; fail with its output."""
    result = run_isolated(
        python,
        ["-m", "pip", "--disable-pip-version-check", "--no-input", *arguments],
        cwd=cwd,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel that C{pip install .} builds, from a clean copy of the tree."""
    work = tmp_path_factory.mktemp("wheel")
    source = copy_project(work / "source")
    pip(
        Path(sys.executable),
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(work / "dist"),
        str(source),
        cwd=work,
    )
    (built,) = (work / "dist").glob("*.whl")
    return built


def wheel_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def test_the_wheel_ships_every_tracked_module(wheel: Path) -> None:
    """Every module under twisted_chat/, subpackages included, and the plugin."""
    shipped = wheel_names(wheel)
    tracked = [
        name
        for name in tracked_files()
        if name.startswith("twisted_chat/") and name.endswith(".py")
    ]
    assert "twisted_chat/benchmark/__main__.py" in tracked
    assert sorted(set(tracked) - shipped) == []
    assert PLUGIN in shipped
    assert "twisted_chat/py.typed" in shipped


#: The browser page's files: data, not modules, shipped all the same.
PAGE_FILES = [
    f"twisted_chat/frontends/web/static/{name}"
    for name in (
        "index.html",
        "chat.js",
        "view.js",
        "colours.js",
        "chat.css",
        "favicon.svg",
    )
]


def test_the_wheel_ships_the_browser_page(wheel: Path) -> None:
    """The page's HTML, script, style and icon: --web serves them from there."""
    shipped = wheel_names(wheel)
    static = [n for n in tracked_files() if n.startswith("twisted_chat/frontends/web/")]
    assert sorted(set(PAGE_FILES) - shipped) == []
    assert sorted(set(static) - shipped) == []


def test_the_installed_copy_reads_the_page_from_itself(
    installed: Path, elsewhere: Path
) -> None:
    script = (
        "from twisted_chat.frontends.web.resource import read_page_files\n"
        "files = read_page_files()\n"
        "print(sorted(path.decode() for path in files))\n"
        "print(b'chat.js' in files[b''].body)\n"
    )
    result = run_isolated(installed, ["-c", script], cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['', 'chat.css', 'chat.js', 'colours.js', 'favicon.svg', 'index.html',"
        " 'view.js']",
        "True",
    ]


def test_the_wheel_leaves_twisted_own_package_alone(wheel: Path) -> None:
    """Into twisted/ goes the plugin module only: no __init__.py, no cache."""
    shipped = wheel_names(wheel)
    assert sorted(name for name in shipped if name.startswith("twisted/")) == [PLUGIN]
    outside = {
        name.split("/", 1)[0]
        for name in shipped
        if not name.startswith(("twisted/", "twisted_chat/"))
    }
    assert [top for top in outside if not top.endswith(".dist-info")] == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A new environment with the wheel installed the way C{pip install .} does."""
    work = tmp_path_factory.mktemp("installed")
    python = make_venv(work / "venv")
    pip(python, "install", "-q", "--no-deps", str(wheel), cwd=work)
    return python


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory far from the source tree, to run commands from."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def test_the_installed_copy_is_the_one_imported(
    installed: Path, elsewhere: Path
) -> None:
    result = run_isolated(
        installed,
        ["-c", "import twisted_chat.benchmark as b; print(b.__file__)"],
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    module = Path(result.stdout.strip())
    assert installed.parent.parent in module.parents
    assert PROJECT not in module.resolve().parents


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ([*TWISTD, "chat", "--help"], "Usage: twistd [options] chat [options]"),
        (
            ["-m", "twisted_chat.client", "--help"],
            "usage: python -m twisted_chat.client",
        ),
        (
            ["-m", "twisted_chat.benchmark", "--help"],
            "usage: python -m twisted_chat.benchmark",
        ),
    ],
    ids=["twistd chat", "client", "benchmark"],
)
def test_the_installed_copy_runs_every_documented_command(
    installed: Path, elsewhere: Path, command: list[str], usage: str
) -> None:
    result = run_isolated(installed, command, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage), result.stdout[:300]


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_install_and_uninstall(tmp_path: Path, editable: bool) -> None:
    """
    twistd lists chat once the project is installed, and neither chat nor
    any loss of Twisted's own plugins once it is uninstalled.
    """
    source = copy_project(tmp_path / "source")
    python = make_venv(tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = run_isolated(python, [*TWISTD, "--help"], cwd=elsewhere)
    assert before.returncode == 0, before.stderr
    assert "chat" not in listed_plugins(before.stdout)

    target = ["-e", str(source)] if editable else [str(source)]
    pip(
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        *target,
        cwd=tmp_path,
    )
    listed = run_isolated(python, [*TWISTD, "--help"], cwd=elsewhere)
    assert "chat" in listed_plugins(listed.stdout), listed.stderr

    pip(python, "uninstall", "-y", "-q", DISTRIBUTION, cwd=tmp_path)
    after = run_isolated(python, [*TWISTD, "--help"], cwd=elsewhere)
    assert after.returncode == 0, after.stderr
    remaining = listed_plugins(after.stdout)
    assert "chat" not in remaining
    assert {"web", "ftp", "conch"} <= remaining
