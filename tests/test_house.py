"""The house rules the layout keeps (issue 17): ruff and the import contracts pass, no import cycle
anywhere in the product, no product file over 600 lines, no top-level room holding more than 35%
of the product's lines. `make lint` runs the first two by hand."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the product: every room that ships or runs (tests, benchmarks and docs are not product)
ROOMS = ("api", "cli", "deployer", "inference", "local_aws", "local_runner", "operations", "pipeline",
         "reports", "serving", "steps", "studio", "ui")
PRODUCT_SUFFIXES = (".py", ".js", ".html", ".css")
PACKAGES = ("chalicelib", "cli", "deployer", "inference", "local_aws", "local_runner", "operations", "pipeline",
            "reports", "serving", "steps", "studio")
MAX_FILE_LINES = 600
MAX_ROOM_SHARE = 0.35


def product_files() -> dict[Path, int]:
    files = {}
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*")):
            if path.suffix in PRODUCT_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                files[path] = len(path.read_text(encoding="utf-8").splitlines())
    return files


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: `make install` (it is in setup.cfg's test extra)")
    return found


def test_ruff_passes_on_the_whole_repository():
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_import_contracts_hold():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "api")]))
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
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
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_product():
    grimp = pytest.importorskip("grimp")     # import-linter's own graph builder
    sys.path[:0] = [str(ROOT), str(ROOT / "api")]
    try:
        graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    finally:
        del sys.path[:2]
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        # a package's __init__ importing its own submodules is how packages re-export: not a cycle
        edges[module] = {m for m in graph.find_modules_directly_imported_by(module)
                         if not m.startswith(module + ".")}
    assert _cycles(edges) == []


def test_no_product_file_over_600_lines():
    files = product_files()
    assert len(files) > 100
    over = {str(p.relative_to(ROOT)): n for p, n in files.items() if n > MAX_FILE_LINES}
    assert over == {}


def test_no_top_level_room_holds_more_than_35_percent_of_the_product():
    files = product_files()
    total = sum(files.values())
    by_room: dict[str, int] = {}
    for path, lines in files.items():
        room = path.relative_to(ROOT).parts[0]
        by_room[room] = by_room.get(room, 0) + lines
    shares = {room: round(lines / total, 3) for room, lines in by_room.items()}
    assert max(shares.values()) <= MAX_ROOM_SHARE, shares
    assert by_room["pipeline"] < by_room["steps"]      # pipeline/ is the definition, nothing else
