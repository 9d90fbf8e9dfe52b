"""The package layout of docs/architecture.md: imports run one way (no module imports a higher layer)
and no module imports itself back through others, lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import qlwork

ROOT = Path(qlwork.__file__).resolve().parent

# layer of each top-level part of the package; a module may import its own part or a lower layer
LAYERS = {
    "config": 0, "db": 0, "errors": 0, "fileio": 0, "formatting": 0, "redaction": 0, "symbols": 0, "write_turn": 0,
    "analytics": 1,
    "portfolio": 2,
    "market": 3,  # providers return holdings as Portfolio objects (market/kite_account.py)
    "tools": 4,
    "assistant": 5, "charts": 5, "": 5,  # "": the package's own __init__ (open_session -> assistant)
    "review": 6,
    "reports": 7, "widget": 7, "server": 7, "explore": 7, "mcp": 7,
    "cli": 8,
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = ["qlwork", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the qlwork modules it imports anywhere in its body (top level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = (".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                        if node.level else (node.module or ""))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    deps.add(target if target in mods else base)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def _part(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_has_a_layer():
    parts = {_part(m) for m in _modules()}
    assert parts <= set(LAYERS), f"add these to LAYERS (and docs/architecture.md): {sorted(parts - set(LAYERS))}"


def test_imports_run_one_way():
    graph = _imports(_modules())
    upward = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps
                    if _part(m) != _part(d) and LAYERS[_part(d)] > LAYERS[_part(m)])
    assert upward == []


def test_no_import_cycles():
    graph = _imports(_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_graph_sees_real_imports():
    """The checks above only mean something if the parser finds imports: spot-check known edges."""
    graph = _imports(_modules())
    assert "qlwork.review.weekly" in graph["qlwork.reports.batch"]  # lazy import inside a function
    assert "qlwork.market.kite_auth" in graph["qlwork.market.kite_client"]
    assert "qlwork.portfolio.model" in graph["qlwork.portfolio.validation"]


# inside assistant/: what each folder may not import (its __init__ docstring says the same)
ASSISTANT_FORBIDDEN = {
    "qlwork.assistant.store": ("qlwork.assistant.runner", "qlwork.assistant.session", "qlwork.assistant.backends",
                               "qlwork.assistant.offline", "qlwork.assistant.grounding", "qlwork.tools"),
    "qlwork.assistant.offline": ("qlwork.assistant.runner", "qlwork.assistant.session", "qlwork.assistant.store",
                                 "qlwork.assistant.backends.openai_base", "qlwork.assistant.backends.sdk_backend",
                                 "qlwork.assistant.backends.openai_chat", "qlwork.assistant.backends.openai_responses"),
    "qlwork.assistant.backends": ("qlwork.assistant.runner", "qlwork.assistant.session", "qlwork.assistant.store",
                                  "qlwork.assistant.offline"),
}


def test_assistant_folders_keep_to_their_part():
    graph = _imports(_modules())
    broken = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps
                    for folder, banned in ASSISTANT_FORBIDDEN.items()
                    if (m == folder or m.startswith(folder + ".")) and any(d == b or d.startswith(b + ".") for b in banned))
    assert broken == []


def test_no_module_is_too_long():
    """STYLE.md: no module over ~400 lines (a little slack for a docstring's growth)."""
    long = sorted(f"{p.relative_to(ROOT)}: {n}" for p in ROOT.rglob("*.py")
                  if (n := len(p.read_text().splitlines())) > 420)
    assert long == []
