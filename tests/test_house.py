"""The house's edges (issue 17): commands are thin and never import each other, nothing below the
command line imports it, no import cycle, the pipeline/ room holds the definition only, no file
over 600 lines, and the one list of report files is the one every reader uses."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("cli", "operations", "serving", "pipeline", "studio", "local_aws", "local_runner", "reports",
         "deployer", "steps", "inference")


def _modules() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
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


@pytest.mark.parametrize("room", ["cli", "operations", "serving", "pipeline"])
def test_no_file_over_600_lines(room):
    long = {p.name: n for p in (ROOT / room).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert long == {}


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
