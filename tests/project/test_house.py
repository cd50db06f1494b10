"""The house's rules (issue 17): ruff and the import contracts (pyproject.toml) pass; commands are
thin and never import each other, nothing below the command line imports it, no import cycle
anywhere in the product, the pipeline/ room holds the definition only, no product file over 600
lines, no room over 35% of the product's lines, and the one list of report files is the one every
reader uses. `make lint` runs ruff and the contracts by hand."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("cli", "operations", "serving", "pipeline", "studio", "local_aws", "local_runner", "reports",
         "deployer", "steps", "inference", "api")
# the product: every room that ships or runs (tests, benchmarks and docs are not product)
PRODUCT_ROOMS = ROOMS + ("ui",)
PRODUCT_SUFFIXES = (".py", ".js", ".html", ".css")
MAX_FILE_LINES = 600
MAX_ROOM_SHARE = 0.35


def _modules() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[0] == "api":       # the Lambda's root is api/: `chalicelib.x`, `app`
                parts = parts[1:]
            found[".".join(parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The project modules `path` imports anywhere in it (function-local imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n for n in subs if n in MODULES] or [node.module]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_no_command_module_imports_another_and_nothing_below_imports_the_command_line():
    across = sorted((m, t) for m, ts in GRAPH.items() for t in ts
                    if m.startswith("cli.cmd_") and t.startswith("cli.cmd_"))
    upward = sorted((m, t) for m, ts in GRAPH.items() for t in ts
                    if not m.startswith("cli") and (t == "cli" or t.startswith("cli.")))
    assert across == [] and upward == []


def test_no_import_cycle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:          # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))
    for name in GRAPH:
        if name not in index:
            visit(name)
    assert cycles == []


def test_pipeline_holds_the_definition_only_and_operations_raise_the_one_user_error():
    assert {p.name for p in (ROOT / "pipeline").glob("*.py")} == {
        "__init__.py", "definition.py", "parameters.py", "step_builders.py", "code_bundle.py"}
    assert not any(t.startswith("cli") for t in GRAPH["operations.errors"])
    from cli.main import UserError
    from operations.errors import UserError as below
    assert UserError is below


def test_one_list_of_report_files():
    import reports
    from operations import reports as report_files
    from operations import tracking
    from studio import views
    assert tracking.step_reports.REPORT_NAMES is report_files.REPORT_NAMES
    drawn = {r.name for r in report_files.REPORT_FILES if r.plots}
    assert set(reports.RENDERERS) == drawn                       # every JSON with plots has its drawing
    assert set(views.REPORTS) <= set(report_files.REPORT_NAMES)
    assert all(views.REPORTS[name] == report_files.PLOTS[name] for name in views.REPORTS)
    keys = report_files.report_keys("p", "e1")
    assert ("PrepareInteractions", "interactions", "runs/p/e1/PrepareInteractions/interactions/interactions.json") \
        in keys


def test_one_approve_entry_point_for_the_command_line_and_the_studio(monkeypatch, tmp_path):
    """`myflix registry approve|reject` and the Studio's registry page decide through
    operations.approval.decide (which hands the registry's event to the deployer)."""
    from cli.main import main
    from operations import approval
    from studio import app as studio_app
    calls = []

    def decide(workdir, ref, status, **kwargs):
        calls.append((Path(workdir), ref, status, kwargs.get("promote")))
        package = {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/1",
                   "ModelApprovalStatus": status, "ModelPackageVersion": 1}
        return package, {"outcome": "staged", "message": "staged"}
    monkeypatch.setattr(approval, "decide", decide)
    assert main(["registry", "approve", "3", "--workdir", str(tmp_path), "--no-promote"]) == 0
    assert main(["registry", "reject", "4", "--workdir", str(tmp_path)]) == 0
    answer = studio_app.registry_decision(tmp_path, "g/1", "Approved", description="ok", promote=True)
    assert answer["outcome"] == "staged" and answer["package"]["version"] == 1
    assert calls == [(tmp_path, "3", "Approved", False), (tmp_path, "4", "Rejected", True),
                     (tmp_path, "g/1", "Approved", True)]


def product_files() -> dict[Path, int]:
    files = {}
    for room in PRODUCT_ROOMS:
        for path in sorted((ROOT / room).rglob("*")):
            if path.suffix in PRODUCT_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                files[path] = len(path.read_text(encoding="utf-8").splitlines())
    return files


def test_no_product_file_over_600_lines():
    files = product_files()
    assert len(files) > 100
    assert {str(p.relative_to(ROOT)): n for p, n in files.items() if n > MAX_FILE_LINES} == {}


def test_no_top_level_room_holds_more_than_35_percent_of_the_product():
    files = product_files()
    total = sum(files.values())
    by_room: dict[str, int] = {}
    for path, lines in files.items():
        room = path.relative_to(ROOT).parts[0]
        by_room[room] = by_room.get(room, 0) + lines
    shares = {room: round(lines / total, 3) for room, lines in by_room.items()}
    assert max(shares.values()) <= MAX_ROOM_SHARE, shares
    assert by_room["pipeline"] < by_room["steps"] / 2      # pipeline/ is the definition, nothing else


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
    assert "Contracts: " in done.stdout and " broken" in done.stdout and "0 broken" in done.stdout
