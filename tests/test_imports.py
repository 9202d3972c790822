"""Module dependencies: which module must not import which, and modules in no import cycle.

The imports are read from the source with `ast`, every one of them: at the top
of a module and inside functions (a lazy import is still a dependency), and
`from PACKAGE import MODULE` counts as importing MODULE.  Imports by name
(`importlib.import_module("...")`) are not seen.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import ROOT

# Where each package's source lives (pyproject.toml's package-dir).
PACKAGES = {"modproof": "modproof", "modproof.spec": "spec", "modproof.encoder": "encoder",
            "modproof.grammar": "grammar"}

# (a, b): no module of a imports a module of b.  A name stands for the module and,
# for a package, every module in it.
NEVER = [
    # Issue 13: these imported each other.  The registry (modproof.engines) gives the
    # portfolio the engines it races; the CI result types are in modproof.ci_result.
    ("modproof.portfolio", "modproof.prove"),
    ("modproof.prove", "modproof.portfolio"),
    ("modproof.exports", "modproof.ci"),
    # The layers around them: prove -> engines -> portfolio, explicit, encoder.
    ("modproof.engines", "modproof.prove"),
    ("modproof.portfolio", "modproof.engines"),
    ("modproof.portfolio", "modproof.explicit"),
    ("modproof.portfolio", "modproof.encoder"),
    ("modproof.exports", "modproof.ci_cmd"),
    ("modproof.exports", "modproof.prove"),
    ("modproof.witness", "modproof.exports"),
    # The front end and the program model are below every engine and the tool
    # (ARCHITECTURE.md): they import no engine, export or tool module.
    *[(low, high) for low in ("modproof.spec", "modproof.grammar")
      for high in ("modproof.encoder", "modproof.explicit", "modproof.exports", "modproof.prove",
                   "modproof.engines", "modproof.cli", "modproof.ci", "modproof.result",
                   "modproof.witness", "modproof.allsizes", "modproof.portfolio")],
]
# Modules that are in no import cycle at all.
ACYCLIC = ["modproof.prove", "modproof.portfolio", "modproof.engines", "modproof.options",
           "modproof.result", "modproof.witness", "modproof.replayfile", "modproof.ci",
           "modproof.ci_cmd", "modproof.ci_result", "modproof.pytest_plugin", "modproof.cli",
           "modproof.exports.jsonfmt", "modproof.exports.text", "modproof.exports.junit",
           "modproof.exports.sarif", "modproof.explicit", "modproof.encoder.bmc",
           "modproof.encoder.kinduction"]
# Modules at the bottom: they import no other module of modproof but these.
BOTTOM = {
    "modproof.options": set(),
    "modproof.ci_result": {"modproof.result", "modproof.spec.model"},   # (for types only)
}


@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Every module of modproof and its source file."""
    out = {}
    for package, folder in PACKAGES.items():
        for f in sorted((ROOT / folder).glob("*.py")):
            name = package if f.stem == "__init__" else f"{package}.{f.stem}"
            out[name] = f
    for package in ("modproof.exports", "modproof.explicit"):
        for f in sorted((ROOT / package.replace(".", "/")).glob("*.py")):
            out[package if f.stem == "__init__" else f"{package}.{f.stem}"] = f
    return out


@lru_cache(maxsize=None)
def imports(name: str) -> frozenset[str]:
    """The modules and names `name` imports anywhere in its source."""
    path = modules()[name]
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return frozenset(out)


def within(name: str, group: str) -> bool:
    return name == group or name.startswith(group + ".")


def importers(a: str, b: str) -> list[tuple[str, str]]:
    """(module of a, what of b it imports)."""
    return sorted((m, i) for m in modules() if within(m, a) for i in imports(m) if within(i, b))


@pytest.mark.parametrize("a, b", NEVER, ids=[f"{a}-{b}" for a, b in NEVER])
def test_this_module_does_not_import_that_one(a, b):
    assert any(within(m, a) for m in modules()) and any(within(m, b) for m in modules())
    assert importers(a, b) == []


def module_graph() -> dict[str, set[str]]:
    """Each module of modproof -> the modules of modproof it imports."""
    return {m: {i for i in imports(m) if i in modules() and i != m} for m in modules()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_engine_and_ci_modules_are_in_no_import_cycle():
    assert all(m in modules() for m in ACYCLIC)
    assert [c for c in cycles(module_graph()) if c & set(ACYCLIC)] == []


@pytest.mark.parametrize("name", sorted(BOTTOM))
def test_the_bottom_modules_import_almost_nothing(name):
    ours = {i for i in imports(name) if i in modules()} - {"modproof"}
    assert ours <= BOTTOM[name]


def test_the_imports_are_found():
    """The reading itself: lazy imports and `from PACKAGE import MODULE`; cycles."""
    assert "modproof.exports.text" in imports("modproof.ci")          # inside a function
    assert "modproof.portfolio" in imports("modproof.engines")         # inside a function
    assert "modproof.ci_result" in imports("modproof.exports.sarif")   # from modproof import X
    assert importers("modproof.exports", "modproof.ci_result")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
