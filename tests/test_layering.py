"""The import graph has floors: nothing imports from a higher floor, and nothing imports in a loop.

Floors, bottom up (``../shared/docs/house.md``): the package root and ``errors``, ``atomic``,
``config``, ``leads`` → ``signal``, ``io`` → ``data``, ``labels``, ``models`` → ``train``,
``evaluate``, ``synth``, ``explain`` → ``study``, ``triage`` → ``report`` → ``cli``. Areas on
one floor may import each other as long as no cycle forms. Every import counts, including
those inside functions: a lazy import hides an arrow, it does not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ecgtriage"

FLOORS: list[tuple[str, ...]] = [
    ("__init__", "errors"),
    ("atomic",),
    ("config",),
    ("leads",),
    ("signal", "io"),
    ("data", "labels", "models"),
    ("train", "evaluate", "synth", "explain"),
    ("study", "triage"),
    ("report",),
    ("cli", "__main__"),
]
FLOOR = {area: i for i, areas in enumerate(FLOORS) for area in areas}
#: Cycles allowed: a registry whose package imports its built-in models, which register back.
CYCLE_ALLOWED = ("ecgtriage.models",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """``ecgtriage`` modules imported anywhere in the file (absolute or relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "ecgtriage")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ecgtriage":
                continue
            for alias in node.names:
                # ``from ecgtriage import atomic`` imports a module, ``from x import f`` a name.
                candidate = f"{target}.{alias.name}"
                out.add(candidate if _exists(candidate) else target)
    return out


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {t for t in _imports(path, name) if t != name} for name, path in modules.items()}


def test_every_area_has_a_floor(graph):
    unknown = sorted({_area(m) for m in graph} - set(FLOOR))
    assert not unknown, f"add these areas to a floor in FLOORS: {unknown}"


def test_nothing_imports_from_a_higher_floor(graph):
    upward = sorted(
        f"{src} (floor {FLOOR[_area(src)]}) imports {dst} (floor {FLOOR[_area(dst)]})"
        for src, targets in graph.items() for dst in targets
        if FLOOR.get(_area(dst), -1) > FLOOR.get(_area(src), -1)
    )
    assert not upward, "imports up the graph:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    """Module-level cycles (Tarjan's strongly connected components), registry excepted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    bad = [c for c in cycles if not all(m.startswith(CYCLE_ALLOWED) for m in c)]
    assert not bad, "import cycles: " + "; ".join(" ↔ ".join(c) for c in bad)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The graph builder must catch a function-level import (the test could otherwise pass
    vacuously)."""
    f = tmp_path / "probe.py"
    f.write_text("def f():\n    from ecgtriage.study.run import run_study\n", encoding="utf-8")
    assert _imports(f, "ecgtriage.io.probe") == {"ecgtriage.study.run"}
