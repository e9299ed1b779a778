"""
The package's shape, pinned: no import cycles, and each layer imports only
the layers beneath it (the core knows no transport, no daemon, no reactor).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from tests.support import run_command

PACKAGE = Path(__file__).resolve().parent.parent / "twisted_chat"

#: What each layer may import from the rest of twisted_chat.
ALLOWED = {
    "core": {"core", "text", "names", "syntax", "store"},
    "store": {"store"},
    "session": {"session", "core", "text", "names", "syntax"},
    "frontends": {"frontends", "session", "core", "text", "names", "syntax"},
    # Above the core: it links hubs, and knows no session nor front end.
    "backplane": {"backplane", "core", "text", "names", "store"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The twisted_chat modules C{path} imports when it is loaded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        # Only what runs at import: "if TYPE_CHECKING:" blocks are skipped.
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("twisted_chat"):
                if node.module != "twisted_chat":  # its __init__ holds nothing
                    found.add(node.module)
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    if (
                        (PACKAGE.parent / candidate.replace(".", "/"))
                        .with_suffix(".py")
                        .exists()
                    ):
                        found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(
                a.name for a in node.names if a.name.startswith("twisted_chat")
            )
    return found


def _graph() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path)
        for path in PACKAGE.rglob("*.py")
        if "benchmark" not in path.parts
    }


def test_no_module_imports_itself_back_through_others() -> None:
    """No import cycle among the package's modules (imports at load time)."""
    graph = _graph()
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, trail: list[str]) -> bool:
        state[module] = 1
        for imported in sorted(graph.get(module, ())):
            if imported not in graph or imported == module:
                continue
            if state.get(imported) == 1:
                cycle.extend([*trail, module, imported])
                return True
            if imported not in state and visit(imported, [*trail, module]):
                return True
        state[module] = 2
        return False

    for module in sorted(graph):
        if module not in state and visit(module, []):
            break
    assert cycle == []


def test_each_layer_imports_only_the_layers_beneath_it() -> None:
    """core < session < frontends; the store stands alone."""
    wrong = []
    for module, imported in sorted(_graph().items()):
        parts = module.split(".")
        allowed = ALLOWED.get(parts[1]) if len(parts) > 1 else None
        if allowed is None:
            continue
        for name in sorted(imported):
            layer = name.split(".")[1] if "." in name else ""
            if layer not in allowed:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_the_core_loads_no_reactor_and_no_socket_code() -> None:
    """Importing the whole core installs no reactor and loads no transport."""
    script = (
        "import json, sys, pkgutil, twisted_chat.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'twisted_chat.core.'):\n"
        "    __import__(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = run_command([sys.executable, "-c", script])
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "twisted.internet.reactor" not in loaded
    assert not {m for m in loaded if m.startswith("twisted.internet.tcp")}
    assert not {m for m in loaded if m.startswith("twisted_chat.session")}
    assert not {m for m in loaded if m.startswith("twisted_chat.frontends")}
