"""The DAG drawn from the definition JSON: every step, its type, condition branches; Mermaid + PNG."""
from __future__ import annotations

import json

import pytest

from studio.dag import Dag, Node, build_dag, draw_png, positions, to_mermaid

# The pipeline stops at Register + Publish: approving a package deploys it (deployer/).
STEPS = ("Ingest", "Preprocess", "TrainScaler", "TuneKMeans", "TrainKMeans", "PrepareInteractions",
         "TrainRecommender", "Evaluate", "QualityGate",
         "Register", "Publish", "QualityGateFailed")


REGION, ROLE, BUCKET = "eu-west-1", "arn:aws:iam::111122223333:role/myflix-pipeline", "myflix-test-bucket"


@pytest.fixture(scope="session")
def definition(definition_json_once) -> dict:
    # One generation per session for these settings, shared by the test files that need it.
    return json.loads(definition_json_once(REGION, ROLE, BUCKET))


@pytest.fixture(scope="session")
def dag(definition) -> Dag:
    return build_dag(definition)


def test_every_step_with_its_type(dag):
    assert list(dag.nodes) == list(STEPS)
    assert dag.nodes["QualityGate"].type == "Condition"
    assert dag.nodes["Register"].type == "RegisterModel"
    assert dag.nodes["QualityGateFailed"].type == "Fail"
    assert dag.nodes["TrainKMeans"].display_name == "Train k-means"


def test_edges_follow_data_and_condition_branches(dag):
    edges = set(dag.edges)
    assert ("TuneKMeans", "TrainKMeans", "") in edges          # JsonGet chosen_k
    assert ("Evaluate", "QualityGate", "") in edges            # the gate reads evaluation.json
    assert ("QualityGate", "Register", "if") in edges
    assert ("QualityGate", "QualityGateFailed", "else") in edges
    assert ("Ingest", "Preprocess", "") in edges               # the raw prefix Ingest wrote
    assert ("Register", "Publish", "") in edges                # model package ARN
    assert ("Preprocess", "Publish", "") in edges              # catalog
    assert ("Preprocess", "PrepareInteractions", "") in edges  # the catalogue says which films exist
    assert ("PrepareInteractions", "TrainRecommender", "") in edges
    assert ("PrepareInteractions", "Evaluate", "") in edges    # the held-out viewers
    assert ("TrainRecommender", "Evaluate", "") in edges
    assert ("TrainRecommender", "Publish", "") in edges        # released beside the table


def test_reduced_keeps_branches_and_drops_implied_edges(dag):
    reduced = dag.reduced()
    assert ("Preprocess", "Publish", "") not in reduced.edges  # implied via the chain
    assert ("Preprocess", "TrainScaler", "") in reduced.edges
    assert {e for e in dag.edges if e[2]} == {e for e in reduced.edges if e[2]}
    layers = reduced.layers()
    assert layers["Ingest"] == 0 and layers["Preprocess"] == 1 and layers["QualityGate"] == 6
    assert layers["Publish"] > layers["Register"] > layers["QualityGate"]


def test_mermaid_names_every_step_and_branch(dag):
    text = to_mermaid(dag.reduced())
    assert text.startswith("flowchart TD\n")
    for name in STEPS:
        assert f"    {name}" in text
    assert "QualityGate -- if --> Register" in text
    assert "QualityGate -- else --> QualityGateFailed" in text
    assert 'QualityGate{"Quality gate' in text          # conditions drawn as decisions


def test_png_exists_and_names_every_step(dag, tmp_path):
    path = tmp_path / "dag" / "pipeline.png"
    drawn = draw_png(dag.reduced(), path, title="myflix")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    assert sorted(drawn) == sorted(STEPS)


def test_positions_keep_nodes_apart(dag):
    pos = positions(dag.reduced())
    assert len(set(pos.values())) == len(STEPS)
    for a, (xa, ya) in pos.items():
        for b, (xb, yb) in pos.items():
            if a < b and ya == yb:
                assert abs(xa - xb) >= 1.5, (a, b)


def test_not_a_definition_is_a_clear_error():
    with pytest.raises(ValueError, match="Steps"):
        build_dag({"Version": "2020-12-01"})


def test_cycle_is_reported():
    dag = Dag(nodes={n: Node(n, "Processing", n) for n in "ab"}, edges=[("a", "b", ""), ("b", "a", "")])
    with pytest.raises(ValueError, match="cycle"):
        dag.layers()


def _crossings(dag: Dag, box_w: float = 1.25, box_h: float = 0.52) -> list[str]:
    """Edges (as drawn: studio.dag.edge_polyline, straight segments) that pass through a box other
    than their two ends, sampled finely."""
    from studio.dag import edge_polyline, layout
    lay = layout(dag)
    bad = []
    for edge in dag.edges:
        points = edge_polyline(lay, edge, box_h)
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            for i in range(101):
                x, y = xa + (xb - xa) * i / 100, ya + (yb - ya) * i / 100
                for name, (cx, cy) in lay.positions.items():
                    if name in edge[:2]:
                        continue
                    if abs(x - cx) < box_w / 2 - 1e-6 and abs(y - cy) < box_h / 2 - 1e-6:
                        bad.append(f"{edge[0]}->{edge[1]} crosses {name}")
    return sorted(set(bad))


def _generated_dag(seed: int, width: int = 4, depth: int = 7) -> Dag:
    """A random layered DAG with parallel branches and edges that skip layers."""
    import random
    rng = random.Random(seed)
    dag = Dag()
    layers = [[f"L{d}N{i}" for i in range(rng.randint(1, width))] for d in range(depth)]
    for row in layers:
        for name in row:
            dag.nodes[name] = Node(name, "Processing", name)
    for d in range(1, depth):
        for name in layers[d]:
            dag.add_edge(rng.choice(layers[d - 1]), name)
            for _ in range(rng.randint(0, 2)):       # extra parents, some layers up
                up = rng.randint(0, d - 1)
                dag.add_edge(rng.choice(layers[up]), name, rng.choice(["", "", "if", "else"]))
    return dag


def test_no_edge_crosses_a_box_in_the_real_dag(dag):
    assert _crossings(dag.reduced()) == []
    assert _crossings(dag) == []                      # every edge drawn (--all-edges) too


def test_no_edge_crosses_a_box_with_extra_parallel_branches(dag, tmp_path):
    """Any DAG, not just today's ten steps: the real one with parallel side branches added, and
    generated ones; the old layout (straight arcs between the ends) crossed boxes on these."""
    wide = Dag(nodes=dict(dag.nodes), edges=list(dag.edges))
    for i, (after, before) in enumerate((("Preprocess", "Evaluate"), ("Preprocess", "Evaluate"),
                                         ("TrainScaler", "TrainKMeans"), ("Ingest", "QualityGate"))):
        wide.nodes[f"Side{i}"] = Node(f"Side{i}", "Processing", f"Side branch {i}")
        wide.add_edge(after, f"Side{i}")
        wide.add_edge(f"Side{i}", before)
    assert _crossings(wide.reduced()) == []
    for seed in range(30):
        assert _crossings(_generated_dag(seed)) == [], seed
    drawn = draw_png(wide.reduced(), tmp_path / "wide.png")
    assert len(drawn) == len(dag.nodes) + 4 and (tmp_path / "wide.png").read_bytes()[:4] == b"\x89PNG"


def test_positions_keep_waypoints_and_boxes_apart():
    from studio.dag import BOX_WIDTH, VIA_WIDTH, layout
    for seed in range(10):
        lay = layout(_generated_dag(seed))
        rows: dict[float, list[tuple[float, float]]] = {}
        for x, y in lay.positions.values():
            rows.setdefault(y, []).append((x, BOX_WIDTH))
        for route in lay.routes.values():
            for x, row in route:
                rows.setdefault(-float(row), []).append((x, VIA_WIDTH))
        for items in rows.values():
            items.sort()
            for (xa, wa), (xb, wb) in zip(items, items[1:]):
                assert xb - xa >= (wa + wb) / 2 - 1e-9, (seed, items)
