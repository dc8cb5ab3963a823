"""The layout's rules, checked by walking every import of `labeling/` and `training/` (statically,
lazy imports inside functions included):

- no import cycle between modules (imports under `if TYPE_CHECKING:` serve annotations
  only and never run, so they do not count);
- no module imports another module's private name (`from m import _x`, `m._x`);
- MLflow is imported only by training/tracking.py (runs), training/registry.py (models)
  and training/pyfunc_model.py (the wrapper MLflow requires);
- dependencies point one way: `labeling` imports nothing from `training`, and no library
  module imports the CLI (`training.cli`).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("labeling", "training")
MLFLOW_MODULES = {"training.tracking", "training.registry", "training.pyfunc_model"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST):
    """ast.walk without `if TYPE_CHECKING:` blocks: imports for annotations only never run."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(child for child in ast.iter_child_nodes(node) if not _is_type_checking(child))


def _imports(name: str, path: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import that runs in the module."""
    out = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out += [(node.lineno, base, alias.name) for alias in node.names]
    return out


def _edges() -> dict[str, set[str]]:
    """Module -> project modules it imports (`from pkg import mod` counts as importing pkg.mod)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for _, module, imported in _imports(name, path):
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _private_uses(name: str, path: Path) -> list[str]:
    problems = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {}
    for lineno, module, imported in _imports(name, path):
        root = module.split(".")[0]
        if root not in PACKAGES:
            continue
        if imported and imported.startswith("_") and not imported.startswith("__"):
            problems.append(f"{path.relative_to(ROOT)}:{lineno}: imports {module}.{imported}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses {aliases[node.value.id]}.{node.attr}")
    return problems


def test_the_walk_sees_every_module():
    assert {"training.registry", "training.predict.engine", "labeling.ingest.pipeline", "training.cli.common"} <= set(MODULES)
    assert "training.model_dir" in _edges()["training.scoring"]


def test_no_import_cycles():
    assert _cycles(_edges()) == []


def test_cycle_detection_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_a_private_name_of_another():
    problems = [p for name, path in MODULES.items() for p in _private_uses(name, path)]
    assert problems == []


def test_mlflow_is_imported_only_by_tracking_registry_and_the_pyfunc_wrapper():
    users = sorted(name for name, path in MODULES.items()
                   if any(module.split(".")[0] == "mlflow" for _, module, _ in _imports(name, path)))
    assert set(users) == MLFLOW_MODULES, users


def test_labeling_never_imports_training():
    offenders = [f"{name} imports {module}" for name, path in MODULES.items() if name.startswith("labeling")
                 for _, module, _ in _imports(name, path) if module.split(".")[0] == "training"]
    assert offenders == []


def test_library_modules_never_import_the_cli():
    offenders = [f"{name} imports {module}" for name, path in MODULES.items() if not name.startswith("training.cli")
                 for _, module, imported in _imports(name, path)
                 if module.startswith("training.cli") or (module == "training" and imported == "cli")]
    assert offenders == []
