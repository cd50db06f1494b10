"""`myflix interactions import`: MovieLens and MovieTweetings files -> the interactions format (the CLI).

The files here are written by the test in each dataset's published layout (no dataset is committed:
MovieLens may not be redistributed); the output is read back through steps/interactions.py, the
very rules PrepareInteractions applies.
"""
from __future__ import annotations

import gzip
import json
from collections import Counter

import pandas as pd
import pytest

from cli.main import main
from steps import interactions as I

ML_RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,964982703
1,3,4.5,964981247
1,6,0.5,964982224
2,1,5.0,1445714835
2,99,3.0,1445714836
x,1,4.0,964982703
3,1,9.0,964982703
3,6,4.0,
3,6,4.0,964982703,extra

4,3,3.5,1700000000
"""
ML_LINKS = """movieId,imdbId,tmdbId
1,0114709,862
3,0113228,15602
6,113277,949
99,,1234
"""


def write_movielens(folder):
    folder.mkdir()
    (folder / "ratings.csv").write_text(ML_RATINGS)
    (folder / "links.csv").write_text(ML_LINKS)
    return folder


def test_movielens_folder_to_csv(tmp_path, capsys):
    folder = write_movielens(tmp_path / "ml-latest-small")
    out = tmp_path / "out" / "ml.csv"
    assert main(["interactions", "import", "movielens", str(folder), "-o", str(out),
                 "--report", str(tmp_path / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert "10 rows read, 5 written" in printed and "no_imdb_link 1" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["malformed"] == {"fields": 1, "no_imdb_link": 1, "rating": 1, "timestamp": 1, "user": 1}
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["viewer_id", "tconst", "event", "value", "timestamp", "event_id"]
    first = frame.iloc[0].to_dict()
    assert first == {"viewer_id": "ml-1", "tconst": "tt0114709", "event": "rating", "value": "8.0",
                     "timestamp": "964982703", "event_id": "ml-1-1"}
    assert frame.set_index("event_id").loc["ml-1-6", "tconst"] == "tt0113277"      # padded to 7 digits
    assert frame.set_index("event_id").loc["ml-1-6", "value"] == "1.0"            # 0.5 stars -> 1/10
    good, bad = I.normalize(frame)
    assert not bad and len(good) == 5


def test_movielens_two_files_to_parquet(tmp_path):
    folder = write_movielens(tmp_path / "ml")
    out = tmp_path / "ml.parquet"
    assert main(["interactions", "import", "movielens", str(folder / "ratings.csv"),
                 str(folder / "links.csv"),
                 "-o", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert len(frame) == 5 and frame["value"].between(0, 10).all()
    pairs, counts = I.prepare([(frame, Counter())], ["tt0114709", "tt0113228"], set(),
                              {"min_viewer_interactions": 1, "min_film_interactions": 1})
    assert counts["unknown_films"] == 1                 # tt0113277 is not in this catalogue
    assert counts["not_positive"] == 0                  # 3.5 stars = 7/10: a positive (above 5/10)
    assert set(pairs["viewer_id"]) == {"ml-1", "ml-2", "ml-4"}


def test_movietweetings_gzip_to_csv_gz(tmp_path, capsys):
    source = tmp_path / "ratings.dat.gz"
    with gzip.open(source, "wt") as handle:
        handle.write("1::0111161::10::1373234211\n1::0068646::9::1373234210\n2::114508::0::1373234212\n"
                     "3::0111161::11::1373234211\n4::0111161\n5::tt0111161::8::1\n6::0111161::7::-5\n")
    out = tmp_path / "mt.csv.gz"
    assert main(["interactions", "import", "movietweetings", str(source), "-o", str(out)]) == 0
    assert "7 rows read, 3 written" in capsys.readouterr().out
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame["tconst"].tolist() == ["tt0111161", "tt0068646", "tt0114508"]
    assert frame["value"].tolist() == ["10.0", "9.0", "0.0"] and frame["viewer_id"].iloc[0] == "mt-1"


@pytest.mark.parametrize("argv, message", [
    (["movielens", "{tmp}/nowhere", "-o", "{tmp}/x.csv"], "no such file"),
    (["movietweetings", "{tmp}/r.dat", "-o", "{tmp}/x.txt"], "must end in .csv"),
])
def test_clear_errors(tmp_path, capsys, argv, message):
    (tmp_path / "r.dat").write_text("1::0111161::10::1373234211\n")
    assert main(["interactions", "import", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    assert message in capsys.readouterr().err


def test_wrong_header_and_nothing_usable(tmp_path, capsys):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user,movie,stars\n1,1,4\n")
    (folder / "links.csv").write_text(ML_LINKS)
    assert main(["interactions", "import", "movielens", str(folder), "-o", str(tmp_path / "x.csv")]) == 2
    assert "expected 'userId,movieId,rating,timestamp'" in capsys.readouterr().err
    (tmp_path / "bad.dat").write_text("garbage\n")
    assert main(["interactions", "import", "movietweetings", str(tmp_path / "bad.dat"),
                 "-o", str(tmp_path / "y.csv")]) == 2
    assert "no usable row" in capsys.readouterr().err
