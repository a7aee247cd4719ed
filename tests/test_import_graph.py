"""The package's import graph is a DAG: no module imports, directly or through others (at module
level, inside a function or for type checking only), a module that imports it back. A module's
import of its own parent packages (which Python runs first anyway) is not an edge."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "mocoim_hub"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The mocoim_hub modules a file imports anywhere in it (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("mocoim_hub"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mocoim_hub"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        # an import of a package names its __init__; `from pkg import module` names the module
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges[name] = {m for m in imports_of(path) if m in modules and m not in parents | {name}}
    return edges


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", stack.append(node)
        for child in sorted(edges[node]):
            if state.get(child) == "open":
                return stack[stack.index(child) :] + [child]
            if child not in state and (found := visit(child)):
                return found
        state[node], _ = "done", stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    edges = graph()
    assert len(edges) > 40 and "mocoim_hub.pretraining.trainer" in edges
    assert cycle_in(edges) is None, " -> ".join(cycle_in(edges))


def test_a_cycle_would_be_found():
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_the_library_does_not_import_the_commands():
    edges = graph()
    library = [name for name in edges if not name.startswith("mocoim_hub.commands")]
    for name in library:
        assert not any(m.startswith("mocoim_hub.commands") for m in edges[name]), name
