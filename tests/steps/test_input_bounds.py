"""Every input has bounds (issue 21, items 5, 6, 14): steps/imdb.py's `Limits`, pipeline parameters.

A gzip bomb stops after one parse block, not after a billion lines; a numVotes beyond int64 is
a malformed line like `ten`; a title over max_field_chars, a line over max_line_bytes and a genre
IMDb does not use are malformed (counted by reason); more lines than max_rows or more
decompressed bytes than max_input_mb stop the read with a message naming the bound. Preprocess
reports the bounds and what it saw in quality.json.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from steps import imdb, preprocess, schema

BASICS_HEADER = "\t".join(schema.BASICS_COLUMNS)
RATINGS_HEADER = "\t".join(schema.RATINGS_COLUMNS)


def basics_line(i: int, title: str = "A Movie", genres: str = "Drama", original: str | None = None) -> str:
    return "\t".join([f"tt{i:07d}", "movie", title, original or title, "0", "1999", "\\N", "100", genres])


def write(path: Path, header: str, lines: list[str], gz: bool = True) -> Path:
    text = header + "\n" + "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wb", compresslevel=1) as out:
            out.write(text.encode())
    else:
        path.write_text(text)
    return path


def test_a_num_votes_beyond_int64_is_a_malformed_line_not_a_crash(tmp_path):
    path = write(tmp_path / "title.ratings.tsv.gz", RATINGS_HEADER,
                 ["tt0000001\t7.5\t1200", "tt0000002\t6.0\t99999999999999999999999", "tt0000003\t6.0\tten",
                  "tt0000004\t8.0\t9223372036854775808", "tt0000005\t8.0\t15"])
    frame, report = imdb.read_ratings(path)
    assert list(frame["tconst"]) == ["tt0000001", "tt0000005"]
    assert report.bad_by_reason == {"bad_num_votes": 3}
    assert {s["line"] for s in report.bad_samples} == {3, 4, 5}


def test_a_gzip_bomb_stops_after_one_block(tmp_path):
    # 40 million empty lines after the header: 40 MB decompressed from about 40 KB
    path = tmp_path / "title.basics.tsv.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write((BASICS_HEADER + "\n").encode())
        block = b"\n" * (1 << 22)
        for _ in range(10):
            out.write(block)
    assert path.stat().st_size < 200_000
    limits = imdb.Limits(max_bad_fraction=0.01)
    with pytest.raises(imdb.ImdbLimitError, match="max_bad_fraction"):
        imdb.read_basics(path, limits=limits)


def test_max_rows_and_max_input_mb_stop_the_read(tmp_path):
    lines = [basics_line(i) for i in range(1, 3001)]
    path = write(tmp_path / "title.basics.tsv.gz", BASICS_HEADER, lines)
    with pytest.raises(imdb.ImdbLimitError, match="max_rows=1,000"):
        imdb.read_basics(path, limits=imdb.Limits(max_rows=1000))
    big = write(tmp_path / "big.tsv.gz", BASICS_HEADER, [basics_line(i, title="x" * 900) for i in range(1, 3001)])
    with pytest.raises(imdb.ImdbLimitError, match="max_input_mb=1"):
        imdb.read_basics(big, limits=imdb.Limits(max_input_mb=1))
    frame, report = imdb.read_basics(path)
    assert len(frame) == 3000 and report.bytes_read > 100_000
    assert report.to_dict()["limits"]["max_rows"] == schema.DEFAULTS["max_rows"]


def test_long_titles_long_lines_and_foreign_genres_are_malformed(tmp_path):
    lines = [basics_line(1), basics_line(2, title="t" * 1001), basics_line(3, original="o" * 70_000),
             basics_line(4, genres="Drama,<img src=x onerror=alert(1)>"), basics_line(5, genres="Sci-Fi,Action"),
             basics_line(6, genres="drama")]
    path = write(tmp_path / "title.basics.tsv.gz", BASICS_HEADER, lines)
    frame, report = imdb.read_basics(path)
    assert list(frame["tconst"]) == ["tt0000001", "tt0000005"]
    assert report.bad_by_reason == {"field_too_long": 1, "line_too_long": 1, "unknown_genre": 2}
    assert {(s["line"], s["reason"]) for s in report.bad_samples} == {
        (3, "field_too_long"), (4, "line_too_long"), (5, "unknown_genre"), (7, "unknown_genre")}
    # the bounds are parameters: a smaller title cap counts more
    _, tight = imdb.read_basics(path, limits=imdb.Limits(max_field_chars=5))
    assert tight.bad_by_reason["field_too_long"] >= 3


def test_preprocess_reports_the_bounds_and_fails_a_bomb_with_its_reason(tmp_path):
    basics = tmp_path / "in" / "title.basics.tsv.gz"
    basics.parent.mkdir()
    with gzip.open(basics, "wb") as out:
        out.write((BASICS_HEADER + "\n").encode() + b"\n" * (1 << 23))
    ratings = write(tmp_path / "in" / "title.ratings.tsv.gz", RATINGS_HEADER, ["tt0000001\t7.5\t1200"])
    out = tmp_path / "out"
    code = preprocess.main(["--basics", str(basics), "--ratings", str(ratings),
                            "--features-out", str(out / "f"), "--catalog-out", str(out / "c"),
                            "--report-out", str(out / "r"), "--max-rows", "1000000"])
    assert code == 2
    quality = json.loads((out / "r" / schema.QUALITY_JSON).read_text())
    assert "max_rows" in quality["failed"] and quality["limits"]["max_rows"] == 1_000_000


def test_the_bounds_are_pipeline_parameters():
    from pipeline.parameters import parameter_defaults
    defaults = parameter_defaults("b")
    for name in ("max_line_bytes", "max_field_chars", "max_rows", "max_input_mb", "max_memory_mb"):
        assert defaults[name] == schema.DEFAULTS[name]
    assert "input_version" in defaults


def test_ingest_refuses_a_file_past_max_input_mb_while_streaming(tmp_path):
    from steps import ingest
    path = tmp_path / "title.basics.tsv.gz"
    with gzip.open(path, "wb") as out:
        out.write((BASICS_HEADER + "\n").encode() + b"\n" * (3 << 20))
    with pytest.raises(ingest.IngestError, match="max_input_mb=2"):
        ingest.verify(path, ingest.FILES[0], "given", max_input_mb=2)
    assert ingest.verify(path, ingest.FILES[0], "given")["decompressed_bytes"] > 3 << 20
