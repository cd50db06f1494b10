"""steps/cleaning.py: every rule (rows in and out), the feature order, the outputs' shape."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imdb_fixtures  # noqa: E402  (tests/ is on sys.path under pytest)
from steps import cleaning, schema


def movie(tconst, year=2000, runtime=100, genres="Drama", rating=7.0, votes=1000, adult=False,
          title_type="movie", title=None):
    return {"tconst": tconst, "titleType": title_type, "primaryTitle": title or f"Title {tconst}",
            "isAdult": adult, "startYear": year, "runtimeMinutes": runtime, "genres": genres,
            "averageRating": rating, "numVotes": votes}


def frames(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.DataFrame(rows)
    basics = df[["tconst", "titleType", "primaryTitle", "isAdult", "startYear", "runtimeMinutes",
                 "genres"]].copy()
    basics["line"] = np.arange(len(df)) + 2
    basics["startYear"] = basics["startYear"].astype("Int32")
    basics["runtimeMinutes"] = basics["runtimeMinutes"].astype("Int32")
    basics["genres"] = basics["genres"].astype("string")
    rated = df[df["averageRating"].notna()]
    ratings = pd.DataFrame({"tconst": rated["tconst"], "averageRating": rated["averageRating"].astype(float),
                            "numVotes": rated["numVotes"].astype("Int64")})
    return basics, ratings


def rule(result, name) -> dict:
    return next(r for r in result.report["rules"] if r["rule"] == name)


def run(rows, **params):
    basics, ratings = frames(rows)
    params.setdefault("year_iqr_multiplier", 0)   # most tests look at one rule at a time
    return cleaning.clean(basics, ratings, params)


def test_feature_order_matches_the_contract():
    order = cleaning.feature_order(cleaning.parse_dropped_genres(schema.DEFAULTS["dropped_genres"]))
    assert len(order["features"]) == 26
    assert order["features"][:2] == ["startYear", "runtimeMinutes"]
    assert order["features"][-2:] == ["averageRating", "numVotes"]
    assert order["genres"] == sorted(order["genres"]) and len(order["genres"]) == 22
    assert order["features"][2:-2] == order["genres"]
    assert order["id_column"] == "tconst"
    assert order["numeric"] == ["startYear", "runtimeMinutes", "averageRating", "numVotes"]
    assert not set(order["genres"]) & set(schema.DEFAULT_DROPPED_GENRES)


def test_title_type_and_adult():
    r = run([movie("tt1"), movie("tt2", title_type="tvSeries"), movie("tt3", adult=True),
             movie("tt4", title_type="short")])
    assert (rule(r, "title_type")["rows_in"], rule(r, "title_type")["rows_out"]) == (4, 2)
    assert (rule(r, "not_adult")["rows_in"], rule(r, "not_adult")["rows_out"]) == (2, 1)
    assert list(r.features["tconst"]) == ["tt1"]
    r = run([movie("tt1"), movie("tt2", title_type="tvMovie")], title_type="tvMovie")
    assert list(r.features["tconst"]) == ["tt2"]


def test_rows_before_title_filter_is_reported():
    basics, ratings = frames([movie("tt1")])
    r = cleaning.clean(basics, ratings, {"year_iqr_multiplier": 0}, rows_before_title_filter=100)
    assert rule(r, "title_type")["rows_in"] == 100 and rule(r, "title_type")["dropped"] == 99


def test_repeated_tconst_keeps_the_first_line():
    r = run([movie("tt1", title="first"), movie("tt1", title="second"), movie("tt2")])
    assert rule(r, "unique_tconst")["dropped"] == 1
    assert rule(r, "unique_tconst")["sample_lines"] == [3]
    assert list(r.catalog["title"]) == ["first", "Title tt2"]


def test_join_ratings_and_missing_fields_per_field():
    r = run([movie("tt1"), movie("tt2", rating=None), movie("tt3", year=None),
             movie("tt4", runtime=None, genres=None), movie("tt5", genres=None)])
    assert (rule(r, "join_ratings")["rows_in"], rule(r, "join_ratings")["rows_out"]) == (5, 4)
    missing = rule(r, "no_missing_field")
    assert missing["missing_by_field"] == {"primaryTitle": 0, "startYear": 1, "runtimeMinutes": 1,
                                           "genres": 2, "averageRating": 0, "numVotes": 0}
    assert (missing["rows_in"], missing["rows_out"]) == (4, 1)
    assert list(r.features["tconst"]) == ["tt1"]


def training(result) -> pd.DataFrame:
    """The catalogue rows in the training set (the fences select them; every row is published)."""
    return result.catalog[result.catalog["in_training"]]


def test_iqr_year_fence():
    years = [1990, 1995, 2000, 2000, 2005, 2010, 1900, 2046]
    r = run([movie(f"tt{i}", year=y) for i, y in enumerate(years)], year_iqr_multiplier=1.5)
    q1, q3 = np.percentile(years, [25, 75])
    fence = r.report["year_fence"]
    assert fence["method"] == "iqr"
    assert fence["low"] == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert fence["high"] == pytest.approx(q3 + 1.5 * (q3 - q1))
    kept = sorted(training(r)["year"])
    assert kept == [y for y in sorted(years) if fence["low"] <= y <= fence["high"]]
    assert 1900 not in kept and 2046 not in kept
    # ... out of the training set only: both stay in the catalogue, saying which fence kept them out
    assert sorted(r.catalog["year"]) == sorted(years)
    out = r.catalog[~r.catalog["in_training"]]
    assert sorted(out["year"]) == [1900, 2046] and set(out["outside_training"]) == {"year_fence"}
    assert r.report["training"]["outside_by_rule"]["year_fence"] == 2
    assert rule(r, "year_fence")["below"] == 1 and rule(r, "year_fence")["above"] == 1
    # A wider multiplier keeps more.
    wide = run([movie(f"tt{i}", year=y) for i, y in enumerate(years)], year_iqr_multiplier=20)
    assert len(wide.features) == len(years)


def test_min_year_replaces_the_fence_and_zero_turns_it_off():
    years = [1920, 1929, 1930, 1990, 2046]
    rows = [movie(f"tt{i}", year=y) for i, y in enumerate(years)]
    r = run(rows, year_iqr_multiplier=1.5, min_year=1930)
    assert r.report["year_fence"]["method"] == "min_year"
    assert sorted(training(r)["year"]) == [1930, 1990, 2046] and len(r.catalog) == 5
    off = run(rows, year_iqr_multiplier=0, min_year=0)
    assert off.report["year_fence"]["method"] == "off" and len(off.features) == 5


def test_runtime_cap_and_bins():
    runtimes = [0, 45, 95, 100, 182, 183, 240, 900]
    r = run([movie(f"tt{i}", runtime=m) for i, m in enumerate(runtimes)], runtime_cap=182,
            runtime_bin_width=30)
    assert sorted(training(r)["runtime"]) == [0, 45, 95, 100, 182]
    assert sorted(r.catalog["runtime"]) == sorted(runtimes)          # every one is published
    assert len(r.catalog_features) == 8 and len(r.features) == 5
    bins = r.report["runtime_bins"]
    assert bins["edges"][:3] == [0, 30, 60] and bins["edges"][-1] is None
    assert sum(bins["before_cap"]) == 8 and sum(bins["after_cap"]) == 5
    assert bins["before_cap"][-1] == 1          # 900 min: the overflow bin
    assert bins["after_cap"][6] == 1 and bins["before_cap"][6] == 2   # 180-210: 182 and 183
    assert rule(r, "runtime_cap")["dropped"] == 3
    off = run([movie(f"tt{i}", runtime=m) for i, m in enumerate(runtimes)], runtime_cap=0)
    assert len(off.features) == 8


def test_dropped_genres_remove_the_movie_and_have_no_column():
    r = run([movie("tt1", genres="Comedy,Short"), movie("tt2", genres="Drama,Reality-TV"),
             movie("tt3", genres="Adult"), movie("tt4", genres="Comedy,Drama"),
             movie("tt5", genres="Drama,Shorts")])
    assert list(r.features["tconst"]) == ["tt4", "tt5"]      # "Shorts" is not "Short"
    d = rule(r, "dropped_genres")
    assert d["movies_by_genre"]["Short"] == 1 and d["movies_by_genre"]["Adult"] == 1
    assert "Short" not in r.features.columns and "Adult" not in r.features.columns
    assert r.report["unknown_genres"] == {"Shorts": 1}
    # Drop none: every IMDb genre becomes a column.
    r = run([movie("tt1", genres="Comedy,Short")], dropped_genres="")
    assert list(r.features["tconst"]) == ["tt1"]
    assert r.feature_order["genres"] == sorted(schema.ALL_IMDB_GENRES)
    assert r.features.loc[0, "Short"] == 1.0


def test_unknown_dropped_genre_name_is_an_error():
    with pytest.raises(cleaning.CleaningError, match="Shorts"):
        run([movie("tt1")], dropped_genres="Shorts,News")


def test_min_rating_and_votes_are_inclusive():
    r = run([movie("tt1", rating=4.9), movie("tt2", rating=5.0), movie("tt3", votes=499),
             movie("tt4", votes=500)])
    assert (rule(r, "min_rating")["rows_in"], rule(r, "min_rating")["rows_out"]) == (4, 3)
    assert (rule(r, "min_votes")["rows_in"], rule(r, "min_votes")["rows_out"]) == (3, 2)
    assert list(r.features["tconst"]) == ["tt2", "tt4"]


def test_one_hot_values_and_types():
    r = run([movie("tt1", genres="Action,Sci-Fi", year=1999, runtime=136, rating=8.7, votes=2000000)])
    f = r.features
    assert list(f.columns) == ["tconst", *r.feature_order["features"]]
    assert all(f[c].dtype == "float64" for c in r.feature_order["features"])
    row = f.iloc[0]
    assert row["Action"] == 1.0 and row["Sci-Fi"] == 1.0 and row["Drama"] == 0.0
    assert (row["startYear"], row["runtimeMinutes"], row["averageRating"], row["numVotes"]) == \
        (1999.0, 136.0, 8.7, 2000000.0)
    assert list(r.catalog.columns) == [*schema.CATALOG_COLUMNS, *schema.CATALOG_TRAINING_COLUMNS]
    assert r.catalog.iloc[0]["genres"] == "Action,Sci-Fi"
    assert bool(r.catalog.iloc[0]["in_training"]) and r.catalog.iloc[0]["outside_training"] == ""
    assert r.catalog_features.equals(r.features)


def test_rules_chain_and_bad_parameters():
    r = run([movie(f"tt{i}") for i in range(5)])
    rules = r.report["rules"]
    assert [x["rule"] for x in rules] == ["title_type", "not_adult", "unique_tconst", "join_ratings",
                                          "no_missing_field", "min_rating", "min_votes",
                                          "year_fence", "runtime_cap", "dropped_genres"]
    assert [x["stage"] for x in rules] == ["catalogue"] * 7 + ["training"] * 3
    for before, after in zip(rules, rules[1:]):
        assert before["rows_out"] == after["rows_in"]
    with pytest.raises(cleaning.CleaningError, match="runtime_bin_width"):
        run([movie("tt1")], runtime_bin_width=0)


def test_on_real_vega_movies(tmp_path):
    from steps import imdb
    basics_path, ratings_path = imdb_fixtures.write_vega_imdb(tmp_path)
    basics, b_report = imdb.read_basics(basics_path)
    ratings, _ = imdb.read_ratings(ratings_path)
    r = cleaning.clean(basics, ratings, rows_before_title_filter=b_report.rows_ok)
    assert rule(r, "title_type")["dropped"] == imdb_fixtures.EXTRA_NON_MOVIES
    assert rule(r, "not_adult")["dropped"] == imdb_fixtures.EXTRA_ADULT
    assert rule(r, "dropped_genres")["dropped"] == imdb_fixtures.EXTRA_DROPPED_GENRE
    # vega's deliberate release years up to 2046 do not get through the fence.
    assert training(r)["year"].max() <= r.report["year_fence"]["high"] < 2030
    assert set(imdb_fixtures.EXTRA_KEPT_TITLES) <= set(training(r)["title"])
    assert 800 < len(r.features) < 1146
    assert not r.features.isna().any().any()


def test_fences_select_the_training_set_and_every_valid_film_stays_in_the_catalogue():
    """Issue 19: Casablanca (1942) and Titanic (194 min) are valid films: published, not trained on."""
    rows = [movie(f"tt{i}", year=1990 + i % 20) for i in range(40)]
    rows += [movie("tt100", year=1942, runtime=102), movie("tt101", year=1997, runtime=194),
             movie("tt102", year=1940, runtime=238), movie("tt103", genres="Drama,Short"),
             movie("tt104", rating=4.0), movie("tt105", votes=10), movie("tt106", adult=True)]
    r = run(rows, year_iqr_multiplier=1.5)
    cat = r.catalog.set_index("tconst")
    # validity (adult, rating, votes) still decides the catalogue
    assert not {"tt104", "tt105", "tt106"} & set(cat.index) and len(cat) == 44
    assert cat.loc["tt100", "outside_training"] == "year_fence"
    assert cat.loc["tt101", "outside_training"] == "runtime_cap"
    assert cat.loc["tt102", "outside_training"] == "year_fence"     # the first fence in rule order
    assert cat.loc["tt103", "outside_training"] == "dropped_genres"
    assert list(r.features["tconst"]) == [f"tt{i}" for i in range(40)]
    assert list(r.catalog_features["tconst"]) == list(r.catalog["tconst"])
    t = r.report["training"]
    assert (t["catalogue"], t["training"], t["outside"]) == (44, 40, 4)
    assert t["outside_by_rule"] == {"year_fence": 2, "runtime_cap": 1, "dropped_genres": 1}
    assert t["outside_each_rule"] == {"year_fence": 2, "runtime_cap": 2, "dropped_genres": 1}
    assert r.report["output"]["movies"] == 40 and r.report["output"]["catalogue_movies"] == 44


def test_the_training_set_is_the_one_the_fences_gave_before(tmp_path):
    """The fences' quartiles come from the same rows as before the split: same training set."""
    from steps import imdb
    basics_path, ratings_path = imdb_fixtures.write_vega_imdb(tmp_path)
    basics, b_report = imdb.read_basics(basics_path)
    ratings, _ = imdb.read_ratings(ratings_path)
    r = cleaning.clean(basics, ratings, rows_before_title_filter=b_report.rows_ok)
    fence = r.report["year_fence"]
    cat = r.catalog
    old_rule = ((cat["year"] >= fence["low"]) & (cat["year"] <= fence["high"]) & (cat["runtime"] <= 182)
                & ~cat["genres"].str.contains("Short|Reality-TV|News|Game-Show|Talk-Show|Adult"))
    assert (old_rule.to_numpy() == cat["in_training"].to_numpy()).all()
    assert len(cat) > len(r.features)
