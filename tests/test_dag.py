"""The DAG drawn from the definition JSON: every step, its type, condition branches; Mermaid + PNG."""
from __future__ import annotations

import json

import pytest

from pipeline.code_bundle import build_bundle
from pipeline.dag import Dag, Node, build_dag, draw_png, positions, to_mermaid
from pipeline.definition import PIPELINE_NAME, definition_json

# The pipeline stops at Register + Publish: approving a package deploys it (deployer/).
STEPS = ("Ingest", "Preprocess", "TrainScaler", "TuneKMeans", "TrainKMeans", "PrepareInteractions",
         "TrainRecommender", "Evaluate", "QualityGate",
         "Register", "Publish", "QualityGateFailed")


REGION, ROLE, BUCKET = "eu-west-1", "arn:aws:iam::111122223333:role/myflix-pipeline", "myflix-test-bucket"


@pytest.fixture(scope="session")
def definition(request) -> dict:
    # One generation per session for these settings, shared by the test files that need it.
    texts = request.config.__dict__.setdefault("_myflix_definition_texts", {})
    bundle = build_bundle()
    key = (REGION, ROLE, BUCKET, PIPELINE_NAME, bundle.sha256)
    if key not in texts:
        texts[key] = definition_json(REGION, ROLE, BUCKET, bundle=bundle)
    return json.loads(texts[key])


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
