"""The one-way import rules of docs/architecture.md, read from the source (every import, also
the ones inside functions): no import circle in either tree, the stages of a capture do not
import each other, only the pipeline knows them all, and the two trees never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The capture's stages (docs/architecture.md): none imports another or the pipeline.
STAGES = ("video_io", "detection", "tracking", "solver_default", "solver_str", "scene",
          "export")


def _module_name(path: Path, package: str) -> str:
    rel = path.relative_to(ROOT / package).with_suffix("")
    parts = [package, *rel.parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(package: str) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports (absolute names)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = _module_name(path, package)
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        found: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join([*base, node.module] if node.module else base)
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m.split(".")[0] in ("inference_backend",
                                                               "str_blender_addon")}
    modules = set(graph)
    return {name: {m for m in deps if m in modules and m != name}
            for name, deps in graph.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package ``__init__`` modules re-export their children: leave them out of cycles."""
    packages = {n for n in graph if any(m.startswith(n + ".") for m in graph)}
    return {n: {d for d in deps if d not in packages} for n, deps in graph.items()
            if n not in packages}


def test_no_import_circle_in_either_tree() -> None:
    for package in ("inference_backend", "str_blender_addon"):
        assert _cycle(_without_packages(_imports(package))) is None, package


def test_the_two_trees_never_import_each_other() -> None:
    for package, other in (("inference_backend", "str_blender_addon"),
                           ("str_blender_addon", "inference_backend")):
        for name, deps in _imports(package).items():
            assert not any(d.startswith(other) for d in deps), name


def test_stages_do_not_import_each_other_and_only_the_pipeline_knows_the_order() -> None:
    graph = _imports("inference_backend")
    stages = {f"inference_backend.{s}" for s in STAGES}
    for stage in stages:
        assert not (graph[stage] & (stages - {stage})), (stage, graph[stage] & stages)
        assert "inference_backend.pipeline" not in graph[stage], stage
        assert "inference_backend.cli" not in graph[stage], stage
    assert {"inference_backend.scene", "inference_backend.solvers", "inference_backend.export",
            "inference_backend.tracking", "inference_backend.video_io"} <= \
        graph["inference_backend.pipeline"]
    # a solver is reached through the registry (solvers.py), never imported by name
    assert not (graph["inference_backend.pipeline"]
                & {"inference_backend.solver_default", "inference_backend.solver_str"})


def test_addon_core_imports_only_the_standard_library_and_numpy() -> None:
    allowed_roots = {"numpy", "__future__"}
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in sorted((ROOT / "str_blender_addon" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root in allowed_roots or root in stdlib, (path.name, name)
