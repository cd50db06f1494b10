"""steps/imdb.py: IMDb TSV reading, every malformed-line case with its line number, no quoting."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from steps import imdb, schema

DATA = Path(__file__).parents[1] / "data"


def bad(report: imdb.ReadReport) -> list[tuple[int, str]]:
    return sorted((s["line"], s["reason"]) for s in report.bad_samples)


@pytest.mark.parametrize("name, expected, good_ids", [
    # (file, [(line, reason)], tconsts still read)
    ("basics_field_count.tsv", [(3, "field_count"), (5, "field_count")],
     ["tt0000001", "tt0000003", "tt0000005"]),
    ("basics_empty_line.tsv", [(3, "bad_tconst")], ["tt0000001", "tt0000003"]),
    ("basics_bad_tconst.tsv", [(3, "bad_tconst"), (4, "bad_tconst")], ["tt0000001", "tt0000004"]),
    ("basics_bad_start_year.tsv", [(3, "bad_start_year"), (4, "bad_start_year")],
     ["tt0000001", "tt0000004"]),
    ("basics_bad_runtime.tsv", [(3, "bad_runtime"), (4, "bad_runtime"), (5, "bad_runtime")],
     ["tt0000001", "tt0000005"]),
    ("basics_bad_is_adult.tsv", [(3, "bad_is_adult"), (4, "bad_is_adult")], ["tt0000001", "tt0000004"]),
    ("basics_unknown_title_type.tsv", [(3, "unknown_title_type"), (4, "unknown_title_type")],
     ["tt0000001", "tt0000004"]),
])
def test_each_malformed_basics_case_is_counted_with_its_line(name, expected, good_ids):
    frame, report = imdb.read_basics(DATA / name)
    assert bad(report) == expected
    assert report.bad_lines == len(expected)
    assert report.lines == len(expected) + len(good_ids)
    assert list(frame["tconst"]) == good_ids
    # The good rows keep their own physical line numbers.
    text = (DATA / name).read_text().split("\n")
    for tconst, line in zip(frame["tconst"], frame["line"]):
        assert text[line - 1].startswith(tconst + "\t")
    assert all(s["detail"] and s["text"] is not None for s in report.bad_samples)


def test_ratings_bad_numbers():
    frame, report = imdb.read_ratings(DATA / "ratings_bad_numbers.tsv")
    assert bad(report) == [(3, "bad_average_rating"), (4, "bad_average_rating"),
                           (5, "bad_average_rating"), (6, "bad_num_votes"), (7, "bad_num_votes"),
                           (8, "bad_num_votes"), (10, "field_count")]
    assert list(frame["tconst"]) == ["tt0000001", "tt0000008"]
    assert list(frame["averageRating"]) == [7.5, 6.0]
    assert list(frame["numVotes"]) == [1000, 500]
    assert report.lines == 9


def test_quotes_are_plain_characters():
    frame, report = imdb.read_basics(DATA / "basics_quotes.tsv")
    assert report.bad_lines == 0
    assert list(frame["primaryTitle"]) == ['The "Quoted" Title', '"', 'Unbalanced "quote',
                                           '"Fully quoted"', "Tab-free, comma, title"]


def test_wrong_header_is_a_clear_error():
    with pytest.raises(imdb.ImdbFormatError, match="header line.*tconst, titleType"):
        imdb.read_basics(DATA / "basics_wrong_header.tsv")


def test_null_values_and_types(tmp_path):
    path = tmp_path / "title.basics.tsv"
    path.write_text("\t".join(schema.BASICS_COLUMNS) + "\n"
                    "tt0000001\tmovie\tA\tA\t1\t\\N\t\\N\t\\N\t\\N\n"
                    "tt0000002\ttvSeries\tB\tB\t0\t1999\t2005\t30\tComedy,Drama\n")
    frame, report = imdb.read_basics(path, title_type=None)
    assert report.bad_lines == 0 and report.title_types == {"movie": 1, "tvSeries": 1}
    assert frame["startYear"].isna().tolist() == [True, False]
    assert frame["runtimeMinutes"].isna().tolist() == [True, False]
    assert frame["genres"].isna().tolist() == [True, False]
    assert frame["isAdult"].tolist() == [True, False]
    assert int(frame["startYear"].iloc[1]) == 1999
    movies, report = imdb.read_basics(path, title_type="movie")
    assert list(movies["tconst"]) == ["tt0000001"] and report.rows_kept == 1 and report.rows_ok == 2


def test_gzip_and_plain_read_the_same(tmp_path):
    src = DATA / "basics_field_count.tsv"
    gz = tmp_path / "title.basics.tsv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes(), mtime=0))
    plain_frame, plain_report = imdb.read_basics(src)
    gz_frame, gz_report = imdb.read_basics(gz)
    assert plain_frame.equals(gz_frame)
    assert bad(plain_report) == bad(gz_report)


def test_line_numbers_across_many_batches(tmp_path, monkeypatch):
    # Tiny blocks force dozens of batches: the line mapping must hold across them.
    monkeypatch.setattr(imdb, "BLOCK_SIZE", 1024)
    lines = ["\t".join(schema.BASICS_COLUMNS)]
    expected = []
    for i in range(1, 2001):
        if i % 97 == 0:
            lines.append(f"tt{i:07d}\tmovie\tShort Line\t0\t2000")                 # field_count
            expected.append((i + 1, "field_count"))
        elif i % 89 == 0:
            lines.append(f"tt{i:07d}\tmovie\tT\tT\t0\t20x0\t\\N\t90\tDrama")        # bad year
            expected.append((i + 1, "bad_start_year"))
        else:
            lines.append(f"tt{i:07d}\tmovie\tT\tT\t0\t2000\t\\N\t90\tDrama")
    path = tmp_path / "title.basics.tsv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(imdb, "SAMPLE_PER_REASON", 1000)
    frame, report = imdb.read_basics(path)
    assert bad(report) == sorted(expected)
    assert len(frame) == 2000 - len(expected)
    for tconst, line in zip(frame["tconst"], frame["line"]):
        assert int(tconst[2:]) == line - 1


def test_samples_are_capped_but_counts_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(imdb, "SAMPLE_PER_REASON", 3)
    rows = [f"tt{i:07d}\tmovie\tT\tT\t0\tyear\t\\N\t90\tDrama" for i in range(10)]
    path = tmp_path / "b.tsv"
    path.write_text("\n".join(["\t".join(schema.BASICS_COLUMNS), *rows]) + "\n")
    _, report = imdb.read_basics(path)
    assert report.bad_by_reason == {"bad_start_year": 10}
    assert [s["line"] for s in report.bad_samples] == [2, 3, 4]


def test_find_input(tmp_path):
    with pytest.raises(imdb.ImdbFormatError, match="does not exist"):
        imdb.find_input(tmp_path / "nope", schema.BASICS_FILE_STEM)
    with pytest.raises(imdb.ImdbFormatError, match="holds no title.basics.tsv"):
        imdb.find_input(tmp_path, schema.BASICS_FILE_STEM)
    shutil.copy(DATA / "basics_quotes.tsv", tmp_path / "title.basics.tsv")
    assert imdb.find_input(tmp_path, schema.BASICS_FILE_STEM).name == "title.basics.tsv"
    (tmp_path / "title.basics.tsv.gz").write_bytes(b"")
    with pytest.raises(imdb.ImdbFormatError, match="both"):
        imdb.find_input(tmp_path, schema.BASICS_FILE_STEM)


def test_report_dict_is_json_ready():
    _, report = imdb.read_basics(DATA / "basics_bad_runtime.tsv")
    d = report.to_dict()
    assert d["bad_lines"] == 3 and d["bad_by_reason"] == {"bad_runtime": 3}
    assert d["bad_reason_text"]["bad_runtime"] == imdb.REASONS["bad_runtime"]
    assert d["bad_fraction"] == pytest.approx(3 / 5)
    assert [s["line"] for s in d["bad_samples"]] == [3, 4, 5]


def test_bad_encoding_is_one_bad_line_not_a_failed_file():
    # Line 3: a Latin-1 title; line 5: a byte in the id; line 6: a Latin-1 genre.
    frame, report = imdb.read_basics(DATA / "basics_bad_encoding.tsv")
    assert bad(report) == [(3, "bad_encoding"), (5, "bad_tconst"), (6, "bad_encoding")]
    assert list(frame["primaryTitle"]) == ["Good Movie", "Amélie in UTF-8"]
    details = sorted(s["detail"] for s in report.bad_samples if s["reason"] == "bad_encoding")
    assert details[0].startswith("genres=") and details[1].startswith("primaryTitle=")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    rows = [f"tt{i:07d}\tmovie\tTitle {i}\tTitle {i}\t0\t2000\t\\N\t90\tDrama" for i in range(20000)]
    data = gzip.compress(("\t".join(schema.BASICS_COLUMNS) + "\n" + "\n".join(rows) + "\n").encode())
    path = tmp_path / "title.basics.tsv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(imdb.ImdbFormatError, match="ends early or is damaged.*download it again"):
        imdb.read_basics(path)


def test_generated_full_format_file_every_injected_bad_line_found(tmp_path, monkeypatch):
    # benchmarks/generate_imdb.py injects malformed lines and counts them; tconst N sits on line N+1.
    from benchmarks import generate_imdb
    monkeypatch.setattr(generate_imdb, "BAD_RATE", 2e-4)
    monkeypatch.setattr(generate_imdb, "CHUNK", 40_000)
    monkeypatch.setattr(imdb, "BLOCK_SIZE", 1 << 20)          # several batches
    monkeypatch.setattr(imdb, "SAMPLE_PER_REASON", 10_000)
    made = generate_imdb.generate(tmp_path, 120_000, seed=3, progress=None)
    frame, report = imdb.read_basics(made["basics"], title_type=None)
    injected = {r: made[r] for r in ("bad_start_year", "bad_runtime", "bad_is_adult",
                                     "unknown_title_type", "field_count") if made[r]}
    assert report.bad_by_reason == injected and sum(injected.values()) > 50
    for sample in report.bad_samples:
        assert int(sample["text"].split("\t")[0][2:]) + 1 == sample["line"]
    assert report.lines == 120_000 and len(frame) == 120_000 - report.bad_lines
    assert (frame["line"] == frame["tid"] + 1).all()
    assert frame["primaryTitle"].str.contains('"').any()
    movies = frame[frame["titleType"] == "movie"]
    assert 0.04 < len(movies) / len(frame) < 0.09               # most rows are not movies
    assert 0.2 < movies["runtimeMinutes"].isna().mean() < 0.3
    ratings, r_report = imdb.read_ratings(made["ratings"])
    assert r_report.bad_lines == 0
    rated_movies = movies["tconst"].isin(ratings["tconst"]).mean()
    assert 0.4 < rated_movies < 0.6
    # Seeded: the same call writes the same bytes.
    again = generate_imdb.generate(tmp_path / "again", 120_000, seed=3, progress=None)
    assert again["basics"].read_bytes() == made["basics"].read_bytes()


def test_wrong_field_count_with_bad_bytes_still_reads(capsys):
    # pyarrow cannot hand such a line to the handler; the reader reads again, sanitized.
    # Line 3: 4 fields and a Latin-1 byte; line 4: a Latin-1 title; line 5: valid UTF-8 quotes.
    frame, report = imdb.read_basics(DATA / "basics_field_count_bad_encoding.tsv")
    assert bad(report) == [(3, "field_count"), (4, "bad_encoding")]
    assert list(frame["primaryTitle"]) == ["Good Movie", "Good \u201cCurly\u201d Quotes"]
    assert list(frame["line"]) == [2, 5]
    assert "Exception ignored" not in capsys.readouterr().err
