"""The pipeline's DAG read from its definition JSON, as Mermaid text and as a PNG (matplotlib).

It draws what SageMaker Studio draws: every step (also those inside condition branches) with its
display name and type, an edge for each data or explicit dependency, and the condition branches
labelled `if` / `else`. Pure functions over the definition dict; only `draw_png` writes a file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

TYPE_COLOURS = {  # Studio-like: one colour per kind of step
    "Processing": "#cfe3f7", "Training": "#d9f0d3", "Condition": "#fde9b8",
    "RegisterModel": "#e8d9f5", "Model": "#e8d9f5", "Fail": "#f8cfcf",
}
DEFAULT_COLOUR = "#eeeeee"


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    display_name: str
    description: str = ""


@dataclass
class Dag:
    nodes: dict[str, Node] = field(default_factory=dict)      # in definition order
    edges: list[tuple[str, str, str]] = field(default_factory=list)   # (from, to, "" | if | else)

    def add_edge(self, src: str, dst: str, label: str = "") -> None:
        if src == dst:
            return
        if label == "" and any(e[0] == src and e[1] == dst for e in self.edges):
            return
        self.edges = [e for e in self.edges if not (e[0] == src and e[1] == dst and e[2] == "")]
        self.edges.append((src, dst, label))

    def reduced(self) -> "Dag":
        """The same DAG without plain edges implied by a longer path (what a reader needs to see)."""
        succ: dict[str, set[str]] = {name: set() for name in self.nodes}
        for src, dst, _ in self.edges:
            succ[src].add(dst)

        def reachable(start: str, skip: tuple[str, str]) -> set[str]:
            seen, todo = set(), [start]
            while todo:
                cur = todo.pop()
                for nxt in succ[cur]:
                    if (cur, nxt) != skip and nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            return seen

        kept = [e for e in self.edges if e[2] or e[1] not in reachable(e[0], (e[0], e[1]))]
        return Dag(nodes=dict(self.nodes), edges=kept)

    def layers(self) -> dict[str, int]:
        """Longest-path layer of every node (0 = no incoming edges)."""
        incoming: dict[str, list[str]] = {name: [] for name in self.nodes}
        for src, dst, _ in self.edges:
            incoming[dst].append(src)
        layer: dict[str, int] = {}

        def visit(name: str, seen: tuple[str, ...] = ()) -> int:
            if name in seen:
                raise ValueError(f"the pipeline has a dependency cycle through {name}")
            if name not in layer:
                layer[name] = 1 + max((visit(s, seen + (name,)) for s in incoming[name]), default=-1)
            return layer[name]

        for name in self.nodes:
            visit(name)
        return layer


def _step_refs(value: Any) -> Iterable[str]:
    """Names of the steps that `value` (part of a step's arguments) reads properties from."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Get" and isinstance(item, str) and item.startswith("Steps."):
                yield item.split(".")[1].split("[")[0]
            else:
                yield from _step_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _step_refs(item)


def _collect(steps: list[dict], dag: Dag) -> None:
    for step in steps:
        name = step["Name"]
        dag.nodes[name] = Node(name=name, type=step.get("Type", "?"),
                               display_name=step.get("DisplayName") or name,
                               description=step.get("Description") or "")
        if step.get("Type") == "Condition":
            args = step.get("Arguments", {})
            _collect(args.get("IfSteps", []), dag)
            _collect(args.get("ElseSteps", []), dag)


def _link(steps: list[dict], dag: Dag) -> None:
    for step in steps:
        name = step["Name"]
        args = step.get("Arguments", {})
        readable = {"Conditions": args.get("Conditions")} if step.get("Type") == "Condition" else args
        for dep in list(step.get("DependsOn", [])) + list(_step_refs(readable)):
            if dep in dag.nodes:
                dag.add_edge(dep, name)
        if step.get("Type") == "Condition":
            for branch, label in (("IfSteps", "if"), ("ElseSteps", "else")):
                for child in args.get(branch, []):
                    dag.add_edge(name, child["Name"], label)
                _link(args.get(branch, []), dag)


def build_dag(definition: dict) -> Dag:
    """The DAG of a pipeline definition (the dict of `Pipeline.definition()`'s JSON)."""
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise ValueError("not a pipeline definition: expected a JSON object with a \"Steps\" list")
    dag = Dag()
    _collect(definition["Steps"], dag)
    _link(definition["Steps"], dag)
    return dag


def _mermaid_id(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _mermaid_label(node: Node) -> str:
    text = f"{node.display_name}<br/><small>{node.name} · {node.type}</small>"
    return text.replace('"', "#quot;")


def to_mermaid(dag: Dag) -> str:
    """Mermaid flowchart text: paste it into a Markdown file, or mermaid.live."""
    shapes = {"Condition": ('{"', '"}'), "Fail": ('(["', '"])'),
              "RegisterModel": ('[["', '"]]'), "Model": ('[["', '"]]')}
    lines = ["flowchart TD"]
    for node in dag.nodes.values():
        left, right = shapes.get(node.type, ('["', '"]'))
        lines.append(f"    {_mermaid_id(node.name)}{left}{_mermaid_label(node)}{right}")
    for src, dst, label in dag.edges:
        arrow = f" -- {label} --> " if label else " --> "
        lines.append(f"    {_mermaid_id(src)}{arrow}{_mermaid_id(dst)}")
    for node in dag.nodes.values():
        colour = TYPE_COLOURS.get(node.type, DEFAULT_COLOUR)
        lines.append(f"    style {_mermaid_id(node.name)} fill:{colour}")
    return "\n".join(lines) + "\n"


BOX_WIDTH, GAP, VIA_WIDTH = 1.25, 0.45, 0.2   # layout units: a step's box, the room between boxes, an edge


@dataclass
class Layout:
    """Where each step sits (x, y = -layer) and the way each edge goes: `routes[(src, dst, label)]`
    are the points (x, layer) where the edge passes the layers between its two ends, in a slot of
    its own. An edge thus only ever runs from one layer's boxes to the next one's through the gap
    between the rows, or straight down through its own slot: it never crosses a step's box."""

    positions: dict[str, tuple[float, float]]
    routes: dict[tuple[str, str, str], list[tuple[float, int]]]


def layout(dag: Dag, spacing: float = BOX_WIDTH + GAP) -> Layout:
    """Layers top to bottom; an edge spanning several layers gets a waypoint in each layer it
    crosses (Sugiyama's dummy nodes), ordered like the steps: under their parents, kept apart."""
    layer = dag.layers()
    rows: dict[int, list[str]] = {}
    parents: dict[str, list[str]] = {name: [] for name in dag.nodes}
    width: dict[str, float] = {name: BOX_WIDTH for name in dag.nodes}
    chains: dict[tuple[str, str, str], list[str]] = {}
    for name in dag.nodes:
        rows.setdefault(layer[name], []).append(name)
    for src, dst, label in dag.edges:
        previous = src
        chain = []
        for row in range(layer[src] + 1, layer[dst]):
            via = f"\x00{src}\x00{dst}\x00{label}\x00{row}"     # not a step name (NUL never is)
            rows.setdefault(row, []).append(via)
            parents[via] = [previous]
            width[via] = VIA_WIDTH
            chain.append(via)
            previous = via
        parents[dst].append(previous)
        chains[(src, dst, label)] = chain
    room = spacing - BOX_WIDTH
    out: dict[str, tuple[float, float]] = {}
    for row in sorted(rows):
        names = rows[row]
        order = {name: i for i, name in enumerate(names)}

        def under_parents(name: str) -> tuple[float, int]:
            xs = [out[p][0] for p in parents[name] if p in out]
            return (sum(xs) / len(xs) if xs else 0.0, order[name])

        # Each item wants to sit under its parents; keep room between neighbours and centre the
        # row on where its items want to be.
        wanted = {name: under_parents(name) for name in names}
        names = sorted(names, key=lambda n: wanted[n])
        xs = [wanted[names[0]][0]]
        for left, name in zip(names, names[1:]):
            xs.append(max(wanted[name][0], xs[-1] + (width[left] + width[name]) / 2 + room))
        shift = sum(wanted[n][0] for n in names) / len(names) - sum(xs) / len(xs)
        for name, x in zip(names, xs):
            out[name] = (round(x + shift, 6), -float(row))
    routes = {edge: [(out[v][0], layer[edge[0]] + i + 1) for i, v in enumerate(chain)]
              for edge, chain in chains.items()}
    return Layout(positions={n: out[n] for n in dag.nodes}, routes=routes)


def positions(dag: Dag, spacing: float = BOX_WIDTH + GAP) -> dict[str, tuple[float, float]]:
    """(x, y) per node: layers top to bottom; within a layer, ordered under their parents."""
    return layout(dag, spacing).positions


def edge_polyline(lay: Layout, edge: tuple[str, str, str], box_h: float) -> list[tuple[float, float]]:
    """The points an edge is drawn through (x, y as in positions): from the bottom of its source box,
    down through each waypoint's slot (as tall as a box), to the top of its target box."""
    (x0, y0), (x1, y1) = lay.positions[edge[0]], lay.positions[edge[1]]
    points = [(x0, y0 - box_h / 2)]
    for x, row in lay.routes.get(edge, []):
        points += [(x, -row + box_h / 2), (x, -row - box_h / 2)]
    return points + [(x1, y1 + box_h / 2)]


def draw_png(dag: Dag, path: Path, title: str = "") -> list[str]:
    """Draw the DAG into a PNG at `path`; returns the step labels drawn (for checks)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    lay = layout(dag)
    pos = lay.positions
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    for route in lay.routes.values():
        xs += [x for x, _ in route]
    width = max(6.0, 2.2 * (max(xs) - min(xs) + 2))
    height = max(4.0, 1.25 * (max(ys) - min(ys) + 1) + 0.6)
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    box_w, box_h = BOX_WIDTH, 0.52
    drawn = []
    for edge in dag.edges:
        label = edge[2]
        points = edge_polyline(lay, edge, box_h)
        # straight segments: each runs inside the gap between two rows or down its own slot
        for (xa, ya), (xb, yb) in zip(points[:-2], points[1:-1]):
            ax.plot([xa, xb], [ya, yb], color="#555555", lw=1.0, solid_capstyle="round")
        ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=12,
                                     color="#555555", lw=1.0, shrinkA=0, shrinkB=0))
        if label:
            (xa, ya), (xb, yb) = points[0], points[1]
            ax.text((xa + xb) / 2, (ya + yb) / 2, label, fontsize=8, ha="center", va="center",
                    color="#8a5a00" if label == "if" else "#a00000",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    for name, node in dag.nodes.items():
        x, y = pos[name]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=TYPE_COLOURS.get(node.type, DEFAULT_COLOUR), ec="#333333"))
        ax.text(x, y + 0.08, node.display_name, ha="center", va="center", fontsize=9,
                fontweight="bold")
        ax.text(x, y - 0.13, f"{node.name} · {node.type}", ha="center", va="center", fontsize=7,
                color="#333333")
        drawn.append(name)
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return drawn
