"""steps/preprocess.py: the container contract (main() with explicit paths), outputs, failures,
determinism."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import imdb_fixtures  # noqa: E402  (tests/ is on sys.path under pytest)
from steps import cleaning, preprocess, schema

DATA = Path(__file__).parents[1] / "data"
OUTPUT_FILES = ("features/features.parquet", "features/features.json", "features/catalog_features.parquet",
                "catalog/catalog.parquet",
                "report/quality.json")


def args_for(raw: Path, out: Path, *extra: str) -> list[str]:
    return ["--basics", str(raw), "--ratings", str(raw), "--features-out", str(out / "features"),
            "--catalog-out", str(out / "catalog"), "--report-out", str(out / "report"), *extra]


@pytest.fixture(scope="module")
def vega(tmp_path_factory) -> dict[str, Path]:
    return imdb_fixtures.run_preprocess(tmp_path_factory.mktemp("vega"), "vega")


def test_outputs_follow_the_contract(vega):
    order = json.loads((vega["features"] / schema.FEATURES_JSON).read_text())
    assert order == cleaning.feature_order(schema.DEFAULT_DROPPED_GENRES)
    features = pd.read_parquet(vega["features"] / schema.FEATURES_PARQUET)
    assert list(features.columns) == ["tconst", *order["features"]]
    assert all(str(features[c].dtype) == "float64" for c in order["features"])
    assert features["tconst"].is_unique and not features.isna().any().any()
    catalog = pq.read_table(vega["catalog"] / schema.CATALOG_PARQUET)
    assert catalog.column_names == [*schema.CATALOG_COLUMNS, *schema.CATALOG_TRAINING_COLUMNS]
    assert [str(t) for t in catalog.schema.types] == ["string", "string", "int32", "int32", "string",
                                                     "double", "int64", "bool", "string"]
    # catalog.parquet and catalog_features.parquet: every valid film; features.parquet: the training set
    everything = pd.read_parquet(vega["features"] / schema.CATALOG_FEATURES_PARQUET)
    assert list(everything.columns) == list(features.columns)
    assert catalog.column("tconst").to_pylist() == everything["tconst"].tolist()
    in_training = catalog.to_pandas()["in_training"].to_numpy()
    assert everything[in_training].reset_index(drop=True).equals(features)
    report = json.loads((vega["report"] / schema.QUALITY_JSON).read_text())
    assert report["output"]["movies"] == len(features) == report["rules"][-1]["rows_out"]
    assert report["output"]["catalogue_movies"] == len(everything) == report["training"]["catalogue"]
    assert report["training"]["outside"] == len(everything) - len(features) > 0
    assert sum(report["training"]["outside_by_rule"].values()) == report["training"]["outside"]
    assert report["inputs"]["basics"]["bad_lines"] == 0
    # The box plot's data travels in quality.json (the image has no matplotlib to draw it): the
    # distribution is the fence's input (every rated movie with all its fields, as before the split).
    fence = report["year_fence"]
    missing_rule = next(r for r in report["rules"] if r["rule"] == "no_missing_field")
    assert sum(fence["distribution"]["counts"]) == missing_rule["rows_out"]
    assert fence["distribution"]["years"] == sorted(fence["distribution"]["years"])
    assert not list(vega["report"].glob("*.png"))           # no job draws anything


def test_the_reports_plots_are_drawn_from_quality_json_outside_the_step(vega, tmp_path):
    import reports
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / schema.QUALITY_JSON).write_bytes((vega["report"] / schema.QUALITY_JSON).read_bytes())
        drawn = reports.render(tmp_path / run)
        assert sorted(p.name for p in drawn) == ["runtime_bins.png", "year_boxplot.png"]
    for name in ("runtime_bins.png", "year_boxplot.png"):
        first = (tmp_path / "a" / name).read_bytes()
        assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == (tmp_path / "b" / name).read_bytes()


def test_min_max_of_real_movies_are_plausible(vega):
    catalog = pd.read_parquet(vega["catalog"] / schema.CATALOG_PARQUET)
    assert catalog["rating"].min() >= 5.0 and catalog["votes"].min() >= 500
    assert catalog.loc[catalog["in_training"], "runtime"].max() <= 182
    assert 'The "Quoted" Movie' in set(catalog["title"])


def test_same_input_gives_byte_identical_outputs(tmp_path):
    raw = tmp_path / "raw"
    imdb_fixtures.write_vega_imdb(raw)
    for run in ("a", "b"):
        assert preprocess.main(args_for(raw, tmp_path / run)) == 0
    for name in OUTPUT_FILES:
        a, b = ((tmp_path / run / name).read_bytes() for run in ("a", "b"))
        if name.endswith(".json"):   # the read's measured peak memory is the process's, not the data's
            a, b = (re.sub(rb'"peak_memory_mb": [0-9.]+', b'"peak_memory_mb": _', text) for text in (a, b))
        assert a == b, name


def test_parameters_reach_the_rules(tmp_path):
    out = imdb_fixtures.run_preprocess(tmp_path, "vega", min_votes=5000, min_rating=6,
                                       runtime_cap=150, min_year=1980, dropped_genres="Horror")
    report = json.loads((out["report"] / schema.QUALITY_JSON).read_text())
    catalog = pd.read_parquet(out["catalog"] / schema.CATALOG_PARQUET)
    assert catalog["votes"].min() >= 5000 and catalog["rating"].min() >= 6
    training = catalog[catalog["in_training"]]
    assert training["runtime"].max() <= 150 and training["year"].min() >= 1980
    assert not training["genres"].str.contains("Horror").any()
    assert catalog["genres"].str.contains("Horror").any()     # published all the same
    assert report["year_fence"]["method"] == "min_year"
    order = json.loads((out["features"] / schema.FEATURES_JSON).read_text())
    assert "Horror" not in order["genres"] and "Short" in order["genres"]
    assert len(order["features"]) == 4 + len(schema.ALL_IMDB_GENRES) - 1


def _write_with_bad_lines(raw: Path, bad: int) -> None:
    basics, _ = imdb_fixtures.write_vega_imdb(raw, gz=False)
    lines = basics.read_text().splitlines()
    for i in range(1, bad + 1):          # damage `bad` data lines: a tab goes missing
        lines[i * 10] = lines[i * 10].replace("\t", " ", 1)
    basics.write_text("\n".join(lines) + "\n")


def test_too_many_malformed_lines_fail_with_a_clear_message(tmp_path, capsys):
    raw = tmp_path / "raw"
    _write_with_bad_lines(raw, 40)       # 40 of 3,213 lines: 1.2% > 1%
    code = preprocess.main(args_for(raw, tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 2
    assert "title.basics.tsv: 40 of 3,213 lines are malformed" in err
    assert "field_count 40" in err and "lines 11, 21, 31" in err
    assert "--max-bad-fraction 0.01" in err and "Raise --max-bad-fraction" in err
    report = json.loads((tmp_path / "out" / "report" / schema.QUALITY_JSON).read_text())
    assert report["failed"] and report["inputs"]["basics"]["bad_lines"] == 40
    assert not (tmp_path / "out" / "features" / schema.FEATURES_PARQUET).exists()
    # Under the limit the same lines are reported and the step succeeds.
    assert preprocess.main(args_for(raw, tmp_path / "ok", "--max-bad-fraction", "0.02")) == 0
    report = json.loads((tmp_path / "ok" / "report" / schema.QUALITY_JSON).read_text())
    assert report["inputs"]["basics"]["bad_by_reason"] == {"field_count": 40}
    assert [s["line"] for s in report["inputs"]["basics"]["bad_samples"]][:3] == [11, 21, 31]


def test_a_few_malformed_lines_are_reported_not_fatal(tmp_path):
    raw = tmp_path / "raw"
    _write_with_bad_lines(raw, 3)
    assert preprocess.main(args_for(raw, tmp_path / "out")) == 0
    report = json.loads((tmp_path / "out" / "report" / schema.QUALITY_JSON).read_text())
    assert report["inputs"]["basics"]["bad_lines"] == 3
    assert "failed" not in report


def test_nothing_left_fails_with_the_rule_named(tmp_path, capsys):
    raw = tmp_path / "raw"
    imdb_fixtures.write_vega_imdb(raw)
    code = preprocess.main(args_for(raw, tmp_path / "out", "--min-votes", "100000000"))
    err = capsys.readouterr().err
    assert code == 2
    assert "no movies left after the filters" in err and "'min_votes'" in err
    assert json.loads((tmp_path / "out" / "report" / schema.QUALITY_JSON).read_text())["failed"]


def test_missing_input_and_bad_parameter_messages(tmp_path, capsys):
    assert preprocess.main(args_for(tmp_path / "nowhere", tmp_path / "out")) == 2
    assert "does not exist" in capsys.readouterr().err
    raw = tmp_path / "raw"
    imdb_fixtures.write_vega_imdb(raw)
    assert preprocess.main(args_for(raw, tmp_path / "out", "--dropped-genres", "Shorts")) == 2
    assert "bad parameter" in capsys.readouterr().err
    assert preprocess.main(args_for(raw, tmp_path / "out", "--title-type", "Movie")) == 2
    assert "'Movie' is not a title type IMDb uses" in capsys.readouterr().err


def test_file_paths_and_pipeline_style_numbers(tmp_path):
    raw = tmp_path / "raw"
    basics, ratings = imdb_fixtures.write_vega_imdb(raw)
    argv = ["--basics", str(basics), "--ratings", str(ratings),
            "--features-out", str(tmp_path / "f"), "--catalog-out", str(tmp_path / "c"),
            "--report-out", str(tmp_path / "r"), "--min-votes", "500.0", "--runtime-cap", "182"]
    assert preprocess.main(argv) == 0
    assert (tmp_path / "f" / schema.FEATURES_PARQUET).is_file()


def test_runs_as_a_file_like_the_container(tmp_path):
    # `python3 .../steps/preprocess.py` from another folder: the script finds `steps` itself.
    raw = tmp_path / "raw"
    imdb_fixtures.write_vega_imdb(raw)
    code_dir = tmp_path / "code"
    shutil.copytree(Path(preprocess.__file__).parent, code_dir / "steps",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, str(code_dir / "steps" / "preprocess.py"),
                          *args_for(raw, tmp_path / "out")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "keep numVotes >= 500" in out.stdout
    assert (tmp_path / "out" / "catalog" / schema.CATALOG_PARQUET).is_file()


def test_demo_data_end_to_end(tmp_path):
    out = imdb_fixtures.run_preprocess(tmp_path, "demo")
    report = json.loads((out["report"] / schema.QUALITY_JSON).read_text())
    assert report["inputs"]["basics"]["lines"] == 12569
    assert report["inputs"]["basics"]["bad_lines"] == 0
    assert 8000 < report["output"]["movies"] < 11000
    # issue 19: the classics are valid films, outside the training fences but in the catalogue
    catalog = pd.read_parquet(out["catalog"] / schema.CATALOG_PARQUET).set_index("tconst")
    classics = {"tt0034583": "year_fence", "tt0054215": "year_fence", "tt0050083": "year_fence",
                "tt0120338": "runtime_cap", "tt0108052": "runtime_cap", "tt0047478": "year_fence"}
    assert catalog.loc[list(classics), "outside_training"].to_dict() == classics
    assert report["training"]["catalogue"] == len(catalog) > report["output"]["movies"]
