"""The package's architecture, as its imports show it: a shared core, two wings that do not import each
other, a library that never imports the command line, and no import cycle anywhere (lazy imports inside
functions count; imports for type checking only do not)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def runtime_nodes(tree: ast.AST):
    """Every node, less the bodies of `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, package: str) -> set[str]:
    """Modules (and names in them) of darnzip / darnzip_cli that a file imports."""
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("darnzip", "darnzip_cli")}


def import_graph() -> dict[str, set[str]]:
    """{module: the modules it imports}, for darnzip and the CLI (cli/ imports as darnzip_cli)."""
    graph = {}
    for top, name in ((ROOT / "darnzip", "darnzip"), (ROOT / "cli", "darnzip_cli")):
        for path in top.rglob("*.py"):
            parts = [name, *path.relative_to(top).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_package else parts)
            graph[module] = imports_of(path, module if is_package else ".".join(parts[:-1]))
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "darnzip_cli" or len(parts) < 2 else f"{parts[0]}.{parts[1]}"


FORBIDDEN = {  # layer: the layers it may not import
    "darnzip.core": {"darnzip.images", "darnzip.frames", "darnzip_cli"},
    "darnzip.images": {"darnzip.frames", "darnzip_cli"},
    "darnzip.frames": {"darnzip.images", "darnzip_cli"},
}


def crossings(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [(m, d) for m, deps in graph.items() for d in deps if layer(d) in FORBIDDEN.get(layer(m), ())]


def a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]):
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_the_wings_stand_on_the_core_and_do_not_import_each_other():
    graph = import_graph()
    assert {"darnzip.core.zoo", "darnzip.images.archive", "darnzip.frames.stream", "darnzip_cli.main"} <= set(graph)
    assert crossings(graph) == []


def test_no_import_cycles():
    assert a_cycle(import_graph()) is None


@pytest.mark.parametrize("planted", [("darnzip.frames.zoo", "darnzip.images.modelfile"),
                                     ("darnzip.core.zoo", "darnzip.frames.zoo"),
                                     ("darnzip.images.archive", "darnzip_cli.app")])
def test_a_planted_crossing_is_seen(planted):
    graph = import_graph()
    graph[planted[0]] = graph[planted[0]] | {planted[1]}
    assert crossings(graph) == [planted]


def test_a_planted_cycle_is_seen():
    graph = import_graph()
    graph["darnzip.core.records"] = graph["darnzip.core.records"] | {"darnzip.core.embedded"}  # which imports records
    cycle = a_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "darnzip.core.embedded" in cycle


def private_uses(source: str) -> list[str]:
    """What a command-line file uses of the library beyond its public API: names that are not in
    darnzip.__all__ or in the `__all__` of a module of darnzip.PUBLIC_MODULES (module aliases count by the
    attributes read off them)."""
    import importlib

    import darnzip

    def public_names(module: str) -> set[str] | None:
        if module == "darnzip":
            return set(darnzip.__all__)
        if module not in darnzip.PUBLIC_MODULES:
            return None
        return set(importlib.import_module(module).__all__)

    tree = ast.parse(source)
    found, aliases = [], {}
    for node in runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "darnzip":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in darnzip.PUBLIC_MODULES:  # `from darnzip.images import archive as arc`
                    aliases[alias.asname or alias.name] = submodule
                    continue
                names = public_names(node.module)
                if names is None or alias.name not in names:
                    found.append(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "darnzip" and alias.name != "darnzip" \
                        and alias.name not in darnzip.PUBLIC_MODULES:
                    found.append(alias.name)
    for node in runtime_nodes(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            if node.attr not in public_names(module):
                found.append(f"{module}.{node.attr}")
    return sorted(set(found))


def test_the_command_line_imports_only_the_public_api():
    used = {path.name: private_uses(path.read_text()) for path in (ROOT / "cli").glob("*.py")}
    assert {name: names for name, names in used.items() if names} == {}


@pytest.mark.parametrize("planted, seen", [
    ("from darnzip.frames.universal.coder import encode_chunk", "darnzip.frames.universal.coder.encode_chunk"),
    ("from darnzip.images.archive import make_codec", "darnzip.images.archive.make_codec"),
    ("from darnzip.images import archive as arc\narc.ChunkRunner", "darnzip.images.archive.ChunkRunner"),
    ("import darnzip.core.fixedpoint", "darnzip.core.fixedpoint"),
])
def test_a_planted_private_import_is_seen(planted, seen):
    assert private_uses(planted) == [seen]


def test_every_public_module_names_what_it_exports():
    import importlib

    import darnzip

    for module in darnzip.PUBLIC_MODULES:
        loaded = importlib.import_module(module)
        assert [name for name in loaded.__all__ if not hasattr(loaded, name)] == [], module
