"""The dependency rule, checked on the source: compat → ollamaweb apps → ollamaweb.core, never back.

- nothing under ollamaweb/ imports compat (only the project URLconf, urls.py, includes its routes);
- ollamaweb.core imports no app and not the gateway;
- domain apps do not import the gateway or the portal (the portal and the gateway sit on top);
- the import graph between apps has no cycle.
"""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIRING = {"ollamaweb.urls"}  # the project URLconf includes compat.urls; nothing else may
TOP = {"gateway", "portal"}  # packages that may depend on every domain app


def modules():
    for package in ("ollamaweb", "compat"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path


def imports_of(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {module for module in found if module.split(".")[0] in ("ollamaweb", "compat")}


def part(module: str) -> str:
    """`ollamaweb.keys.services` → keys; `ollamaweb.core.ollama` → core; `compat.openai.chat` → compat."""
    pieces = module.split(".")
    if pieces[0] == "compat":
        return "compat"
    if len(pieces) > 1 and (ROOT / "ollamaweb" / pieces[1]).is_dir():
        return pieces[1]
    return "ollamaweb"  # the project's wiring: settings, urls, asgi, lifespan


GRAPH = {name: imports_of(name, path) for name, path in modules()}


def test_nothing_in_ollamaweb_imports_compat():
    offenders = {
        name: sorted(m for m in imported if m.startswith("compat"))
        for name, imported in GRAPH.items()
        if name.startswith("ollamaweb.") and name not in WIRING
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_core_depends_on_no_app():
    offenders = {
        name: sorted(m for m in imported if part(m) not in ("core", "ollamaweb"))
        for name, imported in GRAPH.items()
        if part(name) == "core"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_domain_apps_do_not_import_the_gateway_or_the_portal():
    offenders = {
        name: sorted(m for m in imported if part(m) in TOP and part(m) != part(name))
        for name, imported in GRAPH.items()
        if name.startswith("ollamaweb.") and part(name) not in TOP | {"core", "ollamaweb"}
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_import_cycle_between_apps():
    edges = defaultdict(set)
    for name, imported in GRAPH.items():
        for module in imported:
            if part(module) != part(name) and name not in WIRING:
                edges[part(name)].add(part(module))
    visiting, done, cycles = set(), set(), []

    def visit(node, trail):
        visiting.add(node)
        for target in sorted(edges[node]):
            if target in visiting:
                cycles.append(trail[trail.index(target) :] + [target] if target in trail else trail + [target])
            elif target not in done:
                visit(target, trail + [target])
        visiting.discard(node)
        done.add(node)

    for node in sorted(edges):
        if node not in done:
            visit(node, [node])
    assert cycles == []
