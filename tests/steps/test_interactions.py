"""steps/interactions.py (the format's rules) and steps/prepare_interactions.py (the step) on real files."""
from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from steps import interactions as I
from steps import prepare_interactions, schema, simulated_viewers

FILMS = [f"tt{i:07d}" for i in range(1, 40)]
LOOSE = {"min_viewer_interactions": 1, "min_film_interactions": 1}


def rows(*items: tuple) -> pd.DataFrame:
    cols = ["viewer_id", "tconst", "event", "value", "timestamp", "event_id"]
    return pd.DataFrame([dict(zip(cols, item + ("",) * (6 - len(item)))) for item in items], columns=cols)


def prep(frame: pd.DataFrame, forgotten: set[str] = frozenset(), **params):
    return I.prepare([(frame, Counter())], FILMS, set(forgotten), {**LOOSE, **params})


def test_malformed_rows_are_counted_by_reason_and_dropped():
    frame = rows(("v1", "tt0000001", "like", "", "100"),
                 ("", "tt0000001", "like", "", "100"),                   # viewer_id empty
                 ("x" * 65, "tt0000001", "like", "", "100"),             # viewer_id too long
                 ("v1", "tt12", "like", "", "100"),                      # tconst
                 ("v1", "nm0000001", "like", "", "100"),                 # tconst
                 ("v1", "tt0000001", "love", "", "100"),                 # event
                 ("v1", "tt0000002", "rating", "", "100"),               # rating needs a value
                 ("v1", "tt0000002", "rating", "11", "100"),             # rating out of 0..10
                 ("v1", "tt0000002", "like", "5", "100"),                # a like has no value
                 ("v1", "tt0000002", "like", "", "yesterday"),           # timestamp
                 ("v1", "tt0000002", "like", "", "1700000000000"),       # milliseconds, not seconds
                 ("v1", "tt0000002", "like", "", "100", "bad id!"))      # event_id
    pairs, counts = prep(frame)
    assert counts["rows_read"] == 12 and counts["malformed_total"] == 11
    assert counts["malformed"] == {"viewer_id": 2, "tconst": 2, "event": 1, "value": 3, "timestamp": 2,
                                   "event_id": 1}
    assert pairs[["viewer_id", "tconst"]].values.tolist() == [["v1", "tt0000001"]]
    assert I.bad_fraction(counts) == pytest.approx(11 / 12)


def test_missing_columns_refuse_the_whole_frame():
    with pytest.raises(I.InteractionsError, match="no column event"):
        I.normalize(pd.DataFrame({"viewer_id": ["a"], "tconst": ["tt0000001"], "value": [""],
                                  "timestamp": ["1"]}))


def test_timestamps_epoch_and_iso8601():
    frame = rows(("v", "tt0000001", "view", "", "1700000000"),
                 ("v", "tt0000002", "view", "", "1700000000.9"),
                 ("v", "tt0000003", "view", "", "2023-11-14T22:13:20Z"),
                 ("v", "tt0000004", "view", "", "2023-11-14T23:13:20+01:00"),
                 ("v", "tt0000005", "view", "", "2023-11-14"))
    good, bad = I.normalize(frame)
    assert not bad
    assert good["timestamp"].tolist() == [1700000000, 1700000000, 1700000000, 1700000000, 1699920000]


def test_unknown_films_are_counted_and_dropped():
    pairs, counts = prep(rows(("v", "tt0000001", "like", "", "1"), ("v", "tt9999999", "like", "", "1")))
    assert counts["unknown_films"] == 1 and counts["malformed_total"] == 0
    assert pairs["tconst"].tolist() == ["tt0000001"]


def test_dedupe_by_event_id_and_by_identical_rows():
    frame = rows(("v", "tt0000001", "play", "", "10", "e-1"),
                 ("v", "tt0000001", "play", "", "99", "e-1"),           # same id: a replayed batch
                 ("v", "tt0000002", "rating", "8", "10"),
                 ("v", "tt0000002", "rating", "8", "10"),               # identical, no id
                 ("v", "tt0000002", "rating", "9", "10"))               # differs: kept
    pairs, counts = prep(frame)
    assert counts["duplicates"] == 2
    assert counts["events"] == {"play": 1, "rating": 2}


def test_unlike_cancels_earlier_likes_and_list_remove_cancels_list_add():
    frame = rows(("v", "tt0000001", "like", "", "10"), ("v", "tt0000001", "unlike", "", "20"),
                 ("v", "tt0000002", "like", "", "10"), ("v", "tt0000002", "unlike", "", "20"),
                 ("v", "tt0000002", "like", "", "30"),                  # liked again later: live
                 ("v", "tt0000003", "list_add", "", "10"), ("v", "tt0000003", "list_remove", "", "20"),
                 ("v", "tt0000004", "like", "", "10"), ("v", "tt0000004", "view", "", "5"),
                 ("v", "tt0000004", "unlike", "", "20"))                # the view stays
    pairs, counts = prep(frame)
    weights = dict(zip(pairs["tconst"], pairs["weight"]))
    d = schema.DEFAULTS
    assert weights == {"tt0000002": pytest.approx(d["weight_like"]),
                       "tt0000004": pytest.approx(d["weight_view"])}
    assert counts["cancelled"] == 4                  # 3 likes + 1 list entry
    assert counts["not_positive"] == 2               # tt0000001 and tt0000003 left with nothing


def test_weights_order_and_ratings_by_value():
    d = schema.DEFAULTS
    assert d["weight_play"] > d["weight_like"] > d["weight_list_add"] > d["weight_view"] > 0
    frame = rows(("v", "tt0000001", "play", "", "1"), ("v", "tt0000002", "like", "", "1"),
                 ("v", "tt0000003", "list_add", "", "1"), ("v", "tt0000004", "view", "", "1"),
                 ("v", "tt0000005", "rating", "10", "1"), ("v", "tt0000006", "rating", "7.5", "1"),
                 ("v", "tt0000007", "rating", "4", "1"),                # a dislike: dropped
                 ("v", "tt0000008", "view", "", "1"), ("v", "tt0000008", "rating", "2", "2"),
                 ("v", "tt0000009", "play", "", "1"), ("v", "tt0000009", "like", "", "2"))
    pairs, _ = prep(frame)
    w = dict(zip(pairs["tconst"], pairs["weight"].astype(float)))
    assert w["tt0000001"] > w["tt0000002"] > w["tt0000003"] > w["tt0000004"]
    assert w["tt0000005"] == pytest.approx(d["weight_like"])
    assert w["tt0000006"] == pytest.approx(d["weight_like"] * 0.5)
    assert "tt0000007" not in w and "tt0000008" not in w          # a low rating outweighs the view
    assert w["tt0000009"] == pytest.approx(d["weight_play"] + d["weight_like"])
    assert pairs["weight"].dtype == np.float32 and (pairs["weight"] > 0).all()


def test_forgotten_viewers_are_dropped_by_their_sha256():
    frame = rows(("keep", "tt0000001", "like", "", "1"), ("gone", "tt0000001", "like", "", "1"),
                 ("gone", "tt0000002", "play", "", "1"))
    pairs, counts = prep(frame, forgotten={I.viewer_sha256("gone")})
    assert pairs["viewer_id"].unique().tolist() == ["keep"]
    assert counts["forgotten"] == 2 and counts["forgotten_viewers"] == 1


def test_minimum_counts_repeat_until_both_hold():
    # v3 holds the only second viewer of tt0000003; dropping v3 (1 film) leaves tt0000003 with one viewer
    frame = rows(*[(v, f, "like", "", "1") for v, f in
                   [("v1", "tt0000001"), ("v1", "tt0000002"), ("v2", "tt0000001"), ("v2", "tt0000002"),
                    ("v1", "tt0000003"), ("v3", "tt0000003")]])
    pairs, counts = I.prepare([(frame, Counter())], FILMS, set(),
                              {"min_viewer_interactions": 2, "min_film_interactions": 2})
    assert sorted(set(pairs["tconst"])) == ["tt0000001", "tt0000002"]
    assert counts["below_min_counts"] == 2


def test_time_split_holds_out_each_viewers_latest():
    frame = rows(*[("v1", f"tt{i:07d}", "like", "", str(100 + i)) for i in range(1, 11)],
                 ("v2", "tt0000001", "like", "", "5"), ("v2", "tt0000002", "like", "", "6"))
    pairs, counts = prep(frame, test_fraction=0.2, validation_fraction=0.1)
    v1 = pairs[pairs["viewer_id"] == "v1"].set_index("tconst")["split"]
    assert v1[["tt0000010", "tt0000009"]].tolist() == ["test", "test"]
    assert v1["tt0000008"] == "validation"
    assert (v1.drop(["tt0000010", "tt0000009", "tt0000008"]) == "train").all()
    assert (pairs[pairs["viewer_id"] == "v2"]["split"] == "train").all()     # too few to hold out
    assert counts["splits"] == {"train": 9, "validation": 1, "test": 2} and counts["viewers_held_out"] == 1
    # a viewer with 3 films keeps one to learn from
    three = I.time_split(pd.DataFrame({"viewer_id": ["a"] * 3, "tconst": FILMS[:3], "timestamp": [1, 2, 3]}),
                         0.5, 0.5)
    assert sorted(three) == ["test", "train", "validation"]


def test_events_frame_counts_bad_lines():
    lines = [json.dumps({"event_id": "e1234567", "viewer_id": "v", "tconst": "tt0000001", "event": "like",
                         "value": None, "timestamp": 1700000000}).encode(),
             b"not json", b"[1, 2]", b"", json.dumps({"viewer_id": "v", "tconst": "tt0000001"}).encode(),
             json.dumps({"event_id": "e2", "viewer_id": "v", "tconst": "tt0000001", "event": "like",
                         "value": None, "timestamp": 1, "ip": "10.0.0.1"}).encode(), b"\xff\xfe"]
    frame, bad = I.events_frame(lines)
    assert len(frame) == 1 and bad == Counter({"json": 3, "columns": 2})
    good, more_bad = I.normalize(frame)
    assert not more_bad and good["value"].isna().all()


# --- the step on files ------------------------------------------------------------------------
@pytest.fixture
def local_store(tmp_path, local_root):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    pd.DataFrame({"tconst": FILMS, "title": [f"Film {i}" for i in range(len(FILMS))],
                  "year": [1960 + i for i in range(len(FILMS))], "runtime": 100,
                  "genres": ["Drama,Romance" if i % 2 else "Action,Sci-Fi" for i in range(len(FILMS))],
                  "rating": 7.0, "votes": [1000 * (i + 1) for i in range(len(FILMS))]}
                 ).to_parquet(catalog / schema.CATALOG_PARQUET)
    bucket = tmp_path / "work" / "s3" / "bkt"
    return tmp_path, catalog, bucket


def step(tmp_path, catalog, *extra):
    out = tmp_path / "out"
    code = prepare_interactions.main(["--catalog", str(catalog), "--output", str(out),
                                      "--min-viewer-interactions", "1", "--min-film-interactions", "1",
                                      "--min-interactions", "3", *extra])
    written = out / schema.INTERACTIONS_JSON
    report = json.loads(written.read_text()) if written.exists() else None
    frame = pd.read_parquet(out / schema.INTERACTIONS_PARQUET) if report else None
    return code, frame, report


def event(i: int, viewer: str, film: str, kind: str = "like", ts: int = 1700000000) -> dict:
    return {"event_id": f"ev-{viewer}-{i:04d}", "viewer_id": viewer, "tconst": film, "event": kind,
            "value": None, "timestamp": ts + i}


def test_step_reads_events_plain_and_gzip_and_honours_forget_records(local_store):
    tmp_path, catalog, bucket = local_store
    day = bucket / "events" / "dt=2026-12-01"
    day.mkdir(parents=True)
    (day / "a.jsonl").write_text("\n".join(json.dumps(event(i, "alice", FILMS[i])) for i in range(4)) + "\n")
    with gzip.open(day / "firehose-object-without-suffix", "wt") as gz:     # Firehose: GZIP, no suffix
        gz.write("\n".join(json.dumps(event(i, "bob", FILMS[i])) for i in range(3)) + "\nnot json\n")
    (day / "late.jsonl").write_text(json.dumps(event(9, "carol", FILMS[1])) + "\n")
    forgotten = bucket / "events" / "forgotten"
    forgotten.mkdir(parents=True)
    (forgotten / f"{I.viewer_sha256('carol')}.json").write_text(
        json.dumps({"viewer_sha256": I.viewer_sha256("carol"), "forgotten_at": 1}))
    code, frame, report = step(tmp_path, catalog, "--events-uri", "s3://bkt/events/",
                               "--max-bad-fraction", "0.2",
                               "--simulated-viewers", "50")
    assert code == 0
    assert report["source"] == "events" and report["simulated"] is False       # never simulated beside real
    assert report["rows_read"] == 9 and report["malformed"] == {"json": 1}
    assert report["forgotten"] == 1 and report["forget_records"] == 1
    assert sorted(frame["viewer_id"].unique()) == ["alice", "bob"]
    assert list(frame.columns) == ["viewer_id", "tconst", "weight", "timestamp", "split"]
    assert str(frame["weight"].dtype) == "float32" and str(frame["timestamp"].dtype) == "int64"
    assert report["collaborative"] == "trained"


def test_step_with_interactions_uri_csv_and_parquet_prefix(local_store):
    tmp_path, catalog, bucket = local_store
    folder = bucket / "imports"
    folder.mkdir(parents=True)
    dan = [{**event(i, "dan", FILMS[i]), "value": ""} for i in range(5)]
    eve = [{**event(i, "eve", FILMS[i], "rating"), "value": 9.0} for i in range(5)]
    pd.DataFrame(dan).to_csv(folder / "a.csv", index=False)
    pd.DataFrame(eve).to_parquet(folder / "b.parquet")
    code, frame, report = step(tmp_path, catalog, "--interactions-uri", "s3://bkt/imports/",
                               "--events-uri", "s3://bkt/events/", "--simulated-viewers", "50")
    assert code == 0 and report["source"] == "interactions_uri" and not report["simulated"]
    assert sorted(frame["viewer_id"].unique()) == ["dan", "eve"] and report["malformed_total"] == 0


def test_step_too_many_malformed_rows_fails_after_writing_the_report(local_store, capsys):
    tmp_path, catalog, bucket = local_store
    (bucket / "imports").mkdir(parents=True)
    (bucket / "imports" / "x.csv").write_text(
        "viewer_id,tconst,event,value,timestamp\nv,tt0000001,like,,1\nv,tt1,like,,1\n")
    code, _frame, report = step(tmp_path, catalog, "--interactions-uri", "s3://bkt/imports/x.csv")
    assert code == 2 and report["malformed"] == {"tconst": 1}
    assert "50.0% of the rows are malformed" in capsys.readouterr().err


def test_step_counts_csv_rows_with_a_wrong_number_of_fields(local_store):
    tmp_path, catalog, bucket = local_store
    (bucket / "imports").mkdir(parents=True)
    with gzip.open(bucket / "imports" / "x.csv.gz", "wt") as handle:
        handle.write('viewer_id,tconst,event,value,timestamp\n"v,1",tt0000001,like,,1\n'
                     "v,tt0000002,like,,1,surplus\n\nv,tt0000003,view\nv,tt0000004,play,,1\n"
                     '"unterminated,tt0000005,like,,1\nv,tt0000006,like,,1\n')
    code, frame, report = step(tmp_path, catalog, "--interactions-uri", "s3://bkt/imports/",
                               "--max-bad-fraction", "0.9")
    assert code == 0 and report["malformed"] == {"columns": 3}     # surplus, too few, the unterminated quote
    assert report["rows_read"] == 5
    assert sorted(frame["viewer_id"]) == ["v", "v,1"]              # a quoted comma is part of the id


def test_step_bounds_rows_and_bytes_while_reading(local_store, capsys):
    tmp_path, catalog, bucket = local_store
    (bucket / "imports").mkdir(parents=True)
    body = "viewer_id,tconst,event,value,timestamp\n" + "v,tt0000001,view,,1\n" * 60_000     # 1.2 MB
    (bucket / "imports" / "x.csv").write_text(body)
    code, _f, _r = step(tmp_path, catalog, "--interactions-uri", "s3://bkt/imports/x.csv",
                        "--max-interaction-rows", "1000")
    assert code == 2 and "max_interaction_rows=1000" in capsys.readouterr().err
    code, _f, _r = step(tmp_path, catalog, "--interactions-uri", "s3://bkt/imports/x.csv",
                        "--max-interaction-mb", "1")
    assert code == 2 and "max_interaction_mb=1" in capsys.readouterr().err


def test_step_simulates_only_with_nothing_real_and_says_so(local_store):
    tmp_path, catalog, _bucket = local_store
    code, frame, report = step(tmp_path, catalog, "--events-uri", "s3://bkt/events/",
                               "--simulated-viewers", "40")
    assert code == 0 and report["simulated"] is True and report["source"] == "simulated"
    assert report["simulation"]["viewers"] == 40 and "genres" in report["simulation"]["model"]
    assert frame["viewer_id"].str.startswith(schema.SIMULATED_VIEWER_PREFIX).all()
    assert report["viewers"] == 40 and report["splits"]["test"] > 0
    # nothing real and no simulation: an empty, honest report; collaborative skipped
    code, frame, report = step(tmp_path, catalog, "--events-uri", "s3://bkt/events/")
    assert code == 0 and report["source"] == "none" and len(frame) == 0
    assert report["collaborative"].startswith("skipped: 0 interactions")


def test_simulated_viewers_follow_their_tastes():
    genres = ["Horror", "Comedy", "Western", "Drama", "Sci-Fi", "Musical"]
    catalog = pd.DataFrame({"tconst": [f"tt{i:07d}" for i in range(600)],
                            "year": [1950 + i % 60 for i in range(600)],
                            "genres": [genres[i % 6] for i in range(600)], "votes": 1000, "rating": 6.5})
    events = simulated_viewers.simulate(catalog, 80, seed=3)
    assert events.equals(simulated_viewers.simulate(catalog, 80, seed=3))          # seeded
    good, bad = I.normalize(events)
    assert not bad and good["event_id"].is_unique
    views = good[good["event"] == "view"]

    def top_genre_share(genre_of: dict) -> float:
        return views.groupby("viewer_id")["tconst"].apply(
            lambda films: pd.Series([genre_of[f] for f in films]).value_counts(normalize=True).iloc[0]).mean()

    genre = dict(zip(catalog["tconst"], catalog["genres"]))
    shuffled = dict(zip(catalog["tconst"], np.random.default_rng(0).permutation(catalog["genres"])))
    # viewers keep to their favourite genres: far above what the same films give with genres shuffled
    assert top_genre_share(genre) > 1.5 * top_genre_share(shuffled)


def test_step_under_moto_reads_firehose_objects_forget_records_and_an_interactions_prefix(tmp_path,
                                                                                         monkeypatch,
                                                                                         aws_credentials):
    """The AWS path: S3 listing and reading through boto3 (moto), Firehose's gzip objects without a
    suffix, a forget record, and an interactions_uri prefix under raw/."""
    import boto3
    from moto import mock_aws
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT", raising=False)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    pd.DataFrame({"tconst": FILMS, "title": "x", "year": 2000, "runtime": 90, "genres": "Drama",
                  "rating": 7.0, "votes": 100}).to_parquet(catalog / schema.CATALOG_PARQUET)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="myflix-data")
        lines = "\n".join(json.dumps(event(i, v, FILMS[i])) for v in ("ann", "ben", "gone") for i in range(4))
        firehose_key = "events/dt=2026-12-01/myflix-events-1-2026-12-01-00-00-00-abc"    # no suffix
        s3.put_object(Bucket="myflix-data", Key=firehose_key, Body=gzip.compress((lines + "\n").encode()))
        s3.put_object(Bucket="myflix-data", Key=f"events/forgotten/{I.viewer_sha256('gone')}.json",
                      Body=json.dumps({"viewer_sha256": I.viewer_sha256("gone"), "forgotten_at": 1}).encode())
        s3.put_object(Bucket="myflix-data", Key="events-errors/processing-failed/x", Body=b"not events")
        csv_body = "viewer_id,tconst,event,value,timestamp\ncat,tt0000001,rating,9,2026-01-01T00:00:00Z\n" \
                   "gone,tt0000002,play,,1700000000\n"
        s3.put_object(Bucket="myflix-data", Key="raw/interactions/part-1.csv", Body=csv_body.encode())
        out = tmp_path / "out"
        assert prepare_interactions.main(
            ["--catalog", str(catalog), "--output", str(out), "--events-uri", "s3://myflix-data/events/",
             "--interactions-uri", "s3://myflix-data/raw/interactions/", "--region", "us-east-1",
             "--min-viewer-interactions", "1", "--min-film-interactions", "1"]) == 0
    report = json.loads((out / schema.INTERACTIONS_JSON).read_text())
    frame = pd.read_parquet(out / schema.INTERACTIONS_PARQUET)
    assert report["source"] == "events+interactions_uri" and report["simulated"] is False
    assert report["rows_read"] == 14 and report["malformed_total"] == 0
    assert report["forgotten"] == 5 and report["forgotten_viewers"] == 1     # late events AND the file's row
    assert sorted(frame["viewer_id"].unique()) == ["ann", "ben", "cat"]
