"""The package's import graph: no cycle, function-level imports included, and model/ is the network alone.

Every `import` and `from ... import` statement of src/asemllm, wherever it stands (module level or
inside a function), is an edge from its module to the asemllm module it names; `from P import name`
counts as an import of the submodule P.name where there is one. A cycle hidden in function-level
imports still ties the modules together: none may read as a layer of its own.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "asemllm"
# what the network may not know of: the critic and every user of the network
NOT_FOR_MODEL = ("critic", "evaluation", "data", "training", "server", "cli")


def _name(path: Path) -> str:
    parts = ["asemllm", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The asemllm modules that `path` (module `name`) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in out if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_function_level_imports():
    graph = _graph()
    assert "asemllm.critic.api" in graph["asemllm"]  # asemllm.load() imports it inside the function
    assert "asemllm.critic.claim_head" in graph["asemllm.models"]  # build_model, inside the function
    assert "asemllm._version" in graph["asemllm"]  # `from ._version import __version__`


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_a_cycle_is_found_where_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_model_imports_nothing_of_its_users():
    graph = _graph()
    banned = tuple(f"asemllm.{p}" for p in NOT_FOR_MODEL)
    wrong = {m: sorted(i for i in imports if i in banned or i.startswith(tuple(b + "." for b in banned)))
             for m, imports in graph.items() if m.startswith("asemllm.model.") or m == "asemllm.model"}
    assert {m: i for m, i in wrong.items() if i} == {}
