"""operations/demo_data.py: the bundled demo data in IMDb's format, deterministic, with its notice."""
from __future__ import annotations

import gzip

from operations import demo_data
from steps import imdb, schema


def test_demo_files_are_imdb_format_and_deterministic(tmp_path):
    basics, ratings = demo_data.write_demo_imdb(tmp_path / "a")
    again = demo_data.write_demo_imdb(tmp_path / "b")
    assert basics.read_bytes() == again[0].read_bytes()
    assert ratings.read_bytes() == again[1].read_bytes()
    raw = basics.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"     # gzip, mtime 0
    lines = gzip.decompress(raw).decode().splitlines()
    assert lines[0].split("\t") == list(schema.BASICS_COLUMNS)
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 12569
    assert all(len(r) == 9 for r in rows)
    assert {r[1] for r in rows} == {"movie"} and {r[4] for r in rows} == {"0"}
    genres = [r[8] for r in rows if r[8] != "\\N"]
    assert all(" " not in g and len(g.split(",")) <= 3 for g in genres)
    assert all(g.split(",") == sorted(g.split(",")) for g in genres)
    assert all(set(g.split(",")) <= set(schema.ALL_IMDB_GENRES) for g in genres)
    assert "0" not in {r[7] for r in rows}          # OMDb's 0 runtime is written \N
    ids = [r[0] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    rating_lines = gzip.decompress(ratings.read_bytes()).decode().splitlines()
    assert rating_lines[0] == "tconst\taverageRating\tnumVotes"
    assert len(rating_lines) - 1 == 12548      # no row where OMDb has no rating or votes


def test_demo_files_read_cleanly(tmp_path):
    basics, ratings = demo_data.write_demo_imdb(tmp_path)
    frame, report = imdb.read_basics(basics)
    assert report.bad_lines == 0 and len(frame) == 12569
    r_frame, r_report = imdb.read_ratings(ratings)
    assert r_report.bad_lines == 0 and len(r_frame) == 12548
    assert frame.loc[frame["tconst"] == "tt0010323", "primaryTitle"].item() == "The Cabinet of Dr. Caligari"


def test_notice_names_source_and_licences(tmp_path):
    demo_data.write_demo_imdb(tmp_path)
    notice = (tmp_path / "NOTICE.txt").read_text()
    assert "bokeh-sampledata 2024.2" in notice and "OMDb" in notice
    assert "CC BY-NC 4.0" in notice and "BSD-3-Clause" in notice


def test_genre_choice():
    assert demo_data.imdb_genres("Drama, History, Romance, War") == "Drama,History,Romance"
    assert demo_data.imdb_genres("War, Drama, Action, Comedy") == "Action,Drama,War"
    assert demo_data.imdb_genres(None) == "\\N" and demo_data.imdb_genres("N/A") == "\\N"
