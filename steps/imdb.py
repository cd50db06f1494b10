"""Reads IMDb's published title.basics and title.ratings TSV files (plain or gzip) into DataFrames.

The format, exactly as IMDb publishes it: tab-separated, one header line, `\\N` for null, NO
quoting at all (a title may hold `"` characters), genres comma-separated. Parsing is pyarrow's
CSV reader, streamed batch by batch, reading only the columns the pipeline uses and keeping only
the wanted title type, so a full 12-million-line file never sits in memory as strings.

A malformed line (wrong field count, empty or odd id, unknown titleType, isAdult not 0/1,
non-numeric startYear or runtimeMinutes, bad rating numbers, text not UTF-8: see REASONS) is never
silently dropped and never fatal here: it is counted by reason, a sample is kept with its physical
line number, and the caller decides (see `max_bad_fraction` in steps/preprocess.py). Line numbers
are 1-based physical lines of the (decompressed) file, the header being line 1.

Bounds (`Limits`, pipeline parameters with sane defaults) hold while streaming: a line longer
than `max_line_bytes`, a text field longer than `max_field_chars` or a genre IMDb does not use is
malformed (counted like the rest); more than `max_rows` lines, more than `max_input_mb` MiB
decompressed, a peak memory above `max_memory_mb`, or more malformed lines than the step could
ever accept stop the read at once with `ImdbLimitError` (a gzip bomb costs one parse block).
"""
from __future__ import annotations

import codecs
import gzip
import resource
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from steps import imdb_columns, schema

# Title types IMDb uses in title.basics; anything else marks the line as malformed.
KNOWN_TITLE_TYPES = ("movie", "short", "tvEpisode", "tvMiniSeries", "tvMovie", "tvPilot",
                     "tvSeries", "tvShort", "tvSpecial", "video", "videoGame")
# The basics columns the pipeline reads (originalTitle and endYear are never used).
BASICS_READ = ("tconst", "titleType", "primaryTitle", "isAdult", "startYear",
               "runtimeMinutes", "genres")
SAMPLE_PER_REASON = 20
BLOCK_SIZE = 16 << 20          # bytes per parsed batch: big enough to be fast, small for memory
TEXT_SAMPLE_CHARS = 200

# Reasons a line is malformed, with what the report says about each.
REASONS = {
    "field_count": "wrong number of tab-separated fields",
    "bad_tconst": "empty line, or tconst is not tt followed by 1-15 digits",
    "unknown_title_type": "titleType is not one IMDb uses",
    "bad_is_adult": "isAdult is not 0 or 1",
    "bad_start_year": "startYear is not a whole number",
    "bad_runtime": "runtimeMinutes is not a non-negative whole number",
    "bad_average_rating": "averageRating is not a number between 0 and 10",
    "bad_num_votes": "numVotes is not a non-negative whole number",
    "bad_encoding": "a text field is not valid UTF-8",
    "line_too_long": "the line is longer than max_line_bytes",
    "field_too_long": "a text field (title, genres) is longer than max_field_chars",
    "unknown_genre": "genres holds a name that is not one of IMDb's genres",
}
MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on one input file, enforced while it streams (names = the pipeline parameters)."""
    max_line_bytes: int = schema.DEFAULTS["max_line_bytes"]
    max_field_chars: int = schema.DEFAULTS["max_field_chars"]
    max_rows: int = schema.DEFAULTS["max_rows"]
    max_input_mb: int = schema.DEFAULTS["max_input_mb"]
    max_memory_mb: int = schema.DEFAULTS["max_memory_mb"]
    # with it, the read stops once more lines are malformed than max_bad_fraction of max_rows:
    # the step would fail at the end anyway, so a file of garbage is not read to its end
    max_bad_fraction: float | None = None

    @property
    def max_bad_lines(self) -> int | None:
        return None if self.max_bad_fraction is None else int(self.max_bad_fraction * self.max_rows)

    def to_dict(self) -> dict:
        return {"max_line_bytes": self.max_line_bytes, "max_field_chars": self.max_field_chars,
                "max_rows": self.max_rows, "max_input_mb": self.max_input_mb,
                "max_memory_mb": self.max_memory_mb}


class ImdbFormatError(ValueError):
    """The file cannot be read as an IMDb TSV at all (missing, wrong header, truncated gzip)."""


class ImdbLimitError(ImdbFormatError):
    """The file is past one of the bounds (`Limits`): read no further."""


@dataclass
class ReadReport:
    """What reading one file saw: line counts, malformed lines by reason, with a line sample."""
    file: str
    expected_fields: int
    lines: int = 0                       # data lines (the header not counted)
    rows_ok: int = 0                     # well-formed data lines
    rows_kept: int = 0                   # well-formed lines of the wanted title type
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    bad_samples: list[dict] = field(default_factory=list)
    title_types: dict[str, int] = field(default_factory=dict)
    _bad_rows: list[int] = field(default_factory=list, repr=False)   # 0-based data-row index
    _adjusted: np.ndarray | None = field(default=None, repr=False)    # cache for _lines_of
    # Fallback read, with invalid UTF-8 bytes replaced by U+FFFD (see _stream).
    sanitized: bool = False
    limits: Limits = field(default_factory=Limits)
    bytes_read: int = 0                  # decompressed bytes read so far
    peak_memory_mb: float = 0.0
    limit_error: str | None = None       # set when a bound stopped the read

    @property
    def bad_lines(self) -> int:
        return sum(self.bad_by_reason.values())

    @property
    def bad_fraction(self) -> float:
        return self.bad_lines / self.lines if self.lines else 0.0

    def add_bad(self, reason: str, line: int, detail: str, text: str) -> None:
        count = self.bad_by_reason.get(reason, 0)
        self.bad_by_reason[reason] = count + 1
        if count < SAMPLE_PER_REASON:
            self.bad_samples.append({"line": int(line), "reason": reason, "detail": detail,
                                     "text": text[:TEXT_SAMPLE_CHARS]})

    def to_dict(self) -> dict:
        samples = sorted(self.bad_samples, key=lambda s: (s["line"], s["reason"]))
        return {
            "sample_text": "the line as read (its first 200 characters)",
            "file": self.file,
            "lines": self.lines,
            "rows_ok": self.rows_ok,
            "rows_kept": self.rows_kept,
            "bad_lines": self.bad_lines,
            "bad_fraction": round(self.bad_fraction, 8),
            "bad_by_reason": dict(sorted(self.bad_by_reason.items())),
            "bad_reason_text": {r: REASONS[r] for r in sorted(self.bad_by_reason)},
            "bad_samples": samples,
            "title_types": dict(sorted(self.title_types.items())),
            "read_again_replacing_bad_bytes": self.sanitized,
            "decompressed_bytes": self.bytes_read,
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "limits": self.limits.to_dict(),
        }

    def check_limits(self) -> None:
        """After each parsed batch: the bounds that stop the read (ImdbLimitError)."""
        limits = self.limits
        if self.bytes_read > limits.max_input_mb * MIB:
            self._stop(f"{self.file} is more than max_input_mb={limits.max_input_mb:,} MiB once decompressed "
                       f"({self.bytes_read:,} bytes read): not IMDb's file (a gzip bomb?), or raise max_input_mb")
        self.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
        if self.lines > limits.max_rows:
            self._stop(f"{self.file} holds more than max_rows={limits.max_rows:,} lines "
                       f"({self.lines:,} read): not IMDb's file, or raise max_rows")
        if limits.max_bad_lines is not None and self.bad_lines > limits.max_bad_lines:
            self._stop(f"{self.file}: {self.bad_lines:,} malformed lines already ({self.lines:,} read), "
                       f"more than "
                       f"max_bad_fraction={limits.max_bad_fraction:g} of max_rows={limits.max_rows:,} "
                       f"could accept: reading no further")
        if self.peak_memory_mb > limits.max_memory_mb:
            self._stop(f"reading {self.file} took {self.peak_memory_mb:,.0f} MiB, above "
                       f"max_memory_mb={limits.max_memory_mb:,}: use a larger instance and raise it")

    def _stop(self, message: str) -> None:
        self.limit_error = message
        raise ImdbLimitError(message)


def find_input(path: str | Path, stem: str) -> Path:
    """The file itself, or `<stem>` / `<stem>.gz` inside a folder; a clear error otherwise."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        found = [p for p in (path / stem, path / f"{stem}.gz") if p.is_file()]
        if len(found) == 1:
            return found[0]
        if len(found) == 2:
            raise ImdbFormatError(f"{path} holds both {stem} and {stem}.gz: keep only one of them")
        held = sorted(p.name for p in path.iterdir())[:10]
        raise ImdbFormatError(f"{path} holds no {stem} or {stem}.gz (it holds {held}): put IMDb's "
                              f"{stem}.gz there, or pass the file itself")
    raise ImdbFormatError(f"{path} does not exist: pass IMDb's {stem}.gz or the folder holding it")


def _open(path: Path, sanitize: bool = False):
    # By content, not by name: a gzip file called .tsv (or the reverse) still reads.
    stream = pa.input_stream(str(path), compression="gzip" if _is_gzip(path) else None)
    return pa.PythonFile(_Utf8Replacing(stream), mode="r") if sanitize else stream


class _Utf8Replacing:
    """A read-only byte stream whose invalid UTF-8 bytes come out as U+FFFD.

    Only for the fallback read: pyarrow decodes a wrong-field-count line strictly before handing
    it to our handler, so such a line with a bad byte would otherwise fail the whole file."""

    def __init__(self, raw: pa.NativeFile) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = b""
        self._eof = False
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        while (n is None or n < 0 or len(self._buffer) < n) and not self._eof:
            chunk = self._raw.read(1 << 22)
            self._eof = not chunk
            self._buffer += self._decoder.decode(chunk, final=self._eof).encode("utf-8")
        if n is None or n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self._raw.close()
        self.closed = True


def _check_header(path: Path, expected: tuple[str, ...]) -> None:
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        first = fh.readline(4096).decode("utf-8", errors="replace").rstrip("\r\n")
    got = tuple(first.split("\t"))
    if got != expected:
        raise ImdbFormatError(
            f"{path.name}: the header line is {first[:200]!r}, expected the {len(expected)} "
            f"tab-separated columns {', '.join(expected)}: is this IMDb's {path.name.split('.tsv')[0]}"
            f".tsv file, unmodified?")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _stream(path: Path, columns: tuple[str, ...], include: tuple[str, ...], report: ReadReport):
    """Yields record batches of string columns; wrong-field-count lines go to `report`."""

    def on_invalid(row) -> str:
        # Single-threaded parsing gives `row.number`, the physical line (header = line 1);
        # empty lines are kept as rows (ignore_empty_lines=False) so the count stays physical.
        line = row.number if row.number is not None else -1
        report._bad_rows.append(line - 2)
        report.bytes_read += len(row.text or "") + 1
        report.add_bad("field_count", line,
                       f"{row.actual_columns} fields, expected {row.expected_columns}", row.text)
        cap = report.limits.max_bad_lines
        if cap is not None and len(report._bad_rows) > cap:
            report.limit_error = (f"{report.file}: more than {cap:,} lines with a wrong field count, "
                                  f"more than "
                                  f"max_bad_fraction={report.limits.max_bad_fraction:g} of "
                                  f"max_rows={report.limits.max_rows:,} could accept: reading no further")
            return "error"
        return "skip"

    read_options = pacsv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE)
    parse_options = pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                       double_quote=False, newlines_in_values=False,
                                       ignore_empty_lines=False, invalid_row_handler=on_invalid)
    convert_options = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in columns}, include_columns=list(include),
        null_values=[schema.IMDB_NULL], strings_can_be_null=True, quoted_strings_can_be_null=False,
        # Checked per line in `_bad_utf8` instead: one bad byte must not fail the whole file.
        check_utf8=False)
    previous_hook = sys.unraisablehook

    def quiet_hook(unraisable) -> None:
        # pyarrow reports the strict decoding failure of such a line as "unraisable" before it
        # fails the read; we read again (sanitized), so it is not an error worth printing.
        if not isinstance(unraisable.exc_value, UnicodeDecodeError):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_hook
    try:
        reader = pacsv.open_csv(_open(path, report.sanitized), read_options=read_options,
                                parse_options=parse_options, convert_options=convert_options)
        yield from reader
    except (OSError, pa.ArrowInvalid) as err:
        if report.limit_error:
            raise ImdbLimitError(report.limit_error) from None
        if "straddling" in str(err):
            raise ImdbFormatError(f"{path.name}: a line is longer than {BLOCK_SIZE // MIB} MiB (the parse "
                                  f"block; max_line_bytes is {report.limits.max_line_bytes:,}): not IMDb's "
                                  "file") from None
        if not report.sanitized and "CSV parse error" in str(err):
            raise _Undecodable() from None      # the handler could not take the line: read again
        raise ImdbFormatError(
            f"{path.name} ends early or is damaged ({err}; {report.lines:,} lines read before): "
            f"download it again") from None
    finally:
        sys.unraisablehook = previous_hook


class _Undecodable(Exception):
    """A wrong-field-count line held invalid UTF-8: read the file again, sanitized."""


def _lines_of(report: ReadReport, ok_index: np.ndarray) -> np.ndarray:
    """Physical line numbers of well-formed rows, given their 0-based index among well-formed rows.

    Rows skipped for a wrong field count are the gaps: with b_j the skipped data-row indices
    (sorted), a_j = b_j - j is the number of good rows before gap j, and good row i sits at data
    row i + #{j: a_j <= i}.
    """
    if not report._bad_rows:
        return ok_index + 2
    if report._adjusted is None or report._adjusted.size != len(report._bad_rows):
        bad = np.asarray(report._bad_rows, dtype=np.int64)      # appended in order: sorted
        report._adjusted = bad - np.arange(bad.size, dtype=np.int64)
    adjusted = report._adjusted
    return ok_index + np.searchsorted(adjusted, ok_index, side="right") + 2


def _too_long_lines(report: ReadReport, batch: pa.RecordBatch) -> np.ndarray:
    """Lines over max_line_bytes; counts the batch's decompressed bytes (bounded by max_input_mb)."""
    lengths = imdb_columns.line_lengths(batch)
    report.bytes_read += int(lengths.sum()) + batch.num_rows
    return lengths > report.limits.max_line_bytes


def _stop_early(report: ReadReport, parsed: int, bad_ids: int) -> None:
    """Before the per-column checks: a batch of lines without an id (a bomb of empty lines) that
    already passes a bound stops the read here, without parsing its numbers."""
    lines = parsed + len(report._bad_rows)
    cap = report.limits.max_bad_lines
    if lines > report.limits.max_rows or cap is not None and report.bad_lines + bad_ids > cap:
        report.lines = lines
        report.bad_by_reason["bad_tconst"] = report.bad_by_reason.get("bad_tconst", 0) + bad_ids
        report.check_limits()


def _record_bad(report: ReadReport, batch: pa.RecordBatch, start: int, mask: np.ndarray,
                reason: str, column: str) -> None:
    where = np.flatnonzero(mask)
    if where.size == 0:
        return
    lines = _lines_of(report, start + where)
    values = batch.column(column)
    for k, (i, line) in enumerate(zip(where.tolist(), lines.tolist())):
        count = report.bad_by_reason.get(reason, 0)
        if count >= SAMPLE_PER_REASON:
            # Past the sample: count the rest at once.
            report.bad_by_reason[reason] = count + (where.size - k)
            return
        value = values.slice(i, 1).cast(pa.binary())[0].as_py()
        value = None if value is None else value.decode("utf-8", errors="replace")
        report.add_bad(reason, line, f"{column}={value!r}", imdb_columns.row_text(batch, i))


def read_basics(path: str | Path, title_type: str | None = "movie",
                progress: Callable[[str], None] | None = None,
                limits: Limits | None = None) -> tuple[pd.DataFrame, ReadReport]:
    """Reads title.basics: well-formed rows of `title_type` (None: every type), and the read report.

    Columns: line (physical line number), tconst, tid (tconst's number), titleType, primaryTitle,
    isAdult (bool), startYear, runtimeMinutes (nullable Int32), genres (string, nullable). A
    malformed line is left out of the frame and reported: it never takes part in the cleaning.
    """
    try:
        return _read_basics(path, title_type, progress, sanitized=False, limits=limits or Limits())
    except _Undecodable:
        if progress:
            progress("  a malformed line holds bytes that are not UTF-8: reading again, replacing them")
        return _read_basics(path, title_type, progress, sanitized=True, limits=limits or Limits())


def _read_basics(path: str | Path, title_type: str | None,
                 progress: Callable[[str], None] | None, sanitized: bool, limits: Limits
                 ) -> tuple[pd.DataFrame, ReadReport]:
    path = find_input(path, schema.BASICS_FILE_STEM) if Path(path).is_dir() else Path(path)
    if not path.is_file():
        raise ImdbFormatError(f"{path} does not exist: pass IMDb's title.basics.tsv.gz")
    _check_header(path, schema.BASICS_COLUMNS)
    report = ReadReport(file=path.name, expected_fields=len(schema.BASICS_COLUMNS), sanitized=sanitized,
                        limits=limits)
    known_types = pa.array(KNOWN_TITLE_TYPES)
    pieces: list[pa.Table] = []
    parsed_seen = 0
    next_progress = 2_000_000
    # every column is parsed (for the line length), the pipeline's own are kept
    for batch in _stream(path, schema.BASICS_COLUMNS, schema.BASICS_COLUMNS, report):
        n = batch.num_rows
        tconst = batch.column("tconst")
        ttype = batch.column("titleType")
        missing_id = imdb_columns.bad_ids(tconst)
        _stop_early(report, parsed_seen + n, int(missing_id.sum()))
        known = pc.fill_null(pc.is_in(ttype, value_set=known_types), False)
        unknown_type = ~known.to_numpy(zero_copy_only=False).astype(bool) & ~missing_id
        adult = batch.column("isAdult")
        adult_ok = pc.fill_null(pc.is_in(adult, value_set=pa.array(["0", "1"])), False)
        bad_adult = ~adult_ok.to_numpy(zero_copy_only=False).astype(bool) & ~missing_id
        year, bad_year = imdb_columns.whole_numbers(batch.column("startYear"))
        runtime, bad_runtime = imdb_columns.whole_numbers(batch.column("runtimeMinutes"))
        # One reason per line, in this order, so counts add up to the number of bad lines.
        taken = missing_id.copy()
        _record_bad(report, batch, parsed_seen, missing_id, "bad_tconst", "tconst")
        title, genres = batch.column("primaryTitle"), batch.column("genres")
        long_lines = _too_long_lines(report, batch)
        for mask, reason, column in ((long_lines, "line_too_long", "tconst"),
                                     (unknown_type, "unknown_title_type", "titleType"),
                                     (bad_adult, "bad_is_adult", "isAdult"),
                                     (bad_year, "bad_start_year", "startYear"),
                                     (bad_runtime, "bad_runtime", "runtimeMinutes"),
                                     (imdb_columns.bad_utf8(batch.column("primaryTitle"), report.sanitized),
                                      "bad_encoding", "primaryTitle"),
                                     (imdb_columns.bad_utf8(batch.column("genres"), report.sanitized),
                                      "bad_encoding", "genres"),
                                     (imdb_columns.too_long(title, limits.max_field_chars), "field_too_long",
                                      "primaryTitle"),
                                     (imdb_columns.too_long(genres, limits.max_field_chars), "field_too_long",
                                      "genres"),
                                     (imdb_columns.unknown_genres(genres), "unknown_genre", "genres")):
            mask = mask & ~taken
            _record_bad(report, batch, parsed_seen, mask, reason, column)
            taken |= mask
        good = ~taken
        report.rows_ok += int(good.sum())
        counts = pc.value_counts(pc.filter(ttype, pa.array(good & known.to_numpy(zero_copy_only=False))))
        for item in counts.to_pylist():
            report.title_types[item["values"]] = report.title_types.get(item["values"], 0) + item["counts"]
        keep = good
        if title_type is not None:
            keep = keep & pc.fill_null(pc.equal(ttype, title_type), False).to_numpy(zero_copy_only=False)
        where = np.flatnonzero(keep)
        if where.size:
            idx = pa.array(where)
            pieces.append(pa.table({
                "line": pa.array(_lines_of(report, parsed_seen + where)),
                "tconst": tconst.take(idx),
                "tid": imdb_columns.id_numbers(tconst.take(idx)),
                "titleType": ttype.take(idx),
                "primaryTitle": batch.column("primaryTitle").take(idx),
                "isAdult": pc.equal(adult.take(idx), "1"),
                "startYear": pc.cast(year.take(idx), pa.int32()),
                "runtimeMinutes": pc.cast(runtime.take(idx), pa.int32()),
                "genres": batch.column("genres").take(idx),
            }))
        parsed_seen += n
        report.lines = parsed_seen + len(report._bad_rows)
        report.check_limits()
        if progress and report.lines >= next_progress:
            progress(f"  {path.name}: {report.lines:,} lines read, {sum(p.num_rows for p in pieces):,} kept")
            next_progress += 2_000_000
    report.lines = parsed_seen + len(report._bad_rows)
    table = pa.concat_tables(pieces) if pieces else _empty_basics()
    report.rows_kept = table.num_rows
    return _basics_frame(table), report


def _empty_basics() -> pa.Table:
    return pa.table({"line": pa.array([], pa.int64()), "tconst": pa.array([], pa.string()),
                     "tid": pa.array([], pa.int64()), "titleType": pa.array([], pa.string()),
                     "primaryTitle": pa.array([], pa.string()),
                     "isAdult": pa.array([], pa.bool_()), "startYear": pa.array([], pa.int32()),
                     "runtimeMinutes": pa.array([], pa.int32()), "genres": pa.array([], pa.string())})


def _basics_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype(), pa.string(): pd.StringDtype(),
                                          pa.int64(): pd.Int64Dtype()}.get)
    frame["line"] = frame["line"].astype("int64")
    frame["tid"] = frame["tid"].astype("int64")
    frame["isAdult"] = frame["isAdult"].astype(bool)
    return frame


def read_ratings(path: str | Path, progress: Callable[[str], None] | None = None,
                 limits: Limits | None = None) -> tuple[pd.DataFrame, ReadReport]:
    """Reads title.ratings: well-formed rows (line, tconst, tid, averageRating float64, numVotes Int64)."""
    try:
        return _read_ratings(path, progress, sanitized=False, limits=limits or Limits())
    except _Undecodable:
        return _read_ratings(path, progress, sanitized=True, limits=limits or Limits())


def _read_ratings(path: str | Path, progress: Callable[[str], None] | None, sanitized: bool,
                  limits: Limits) -> tuple[pd.DataFrame, ReadReport]:
    path = find_input(path, schema.RATINGS_FILE_STEM) if Path(path).is_dir() else Path(path)
    if not path.is_file():
        raise ImdbFormatError(f"{path} does not exist: pass IMDb's title.ratings.tsv.gz")
    _check_header(path, schema.RATINGS_COLUMNS)
    report = ReadReport(file=path.name, expected_fields=len(schema.RATINGS_COLUMNS), sanitized=sanitized,
                        limits=limits)
    pieces: list[pa.Table] = []
    parsed_seen = 0
    for batch in _stream(path, schema.RATINGS_COLUMNS, schema.RATINGS_COLUMNS, report):
        tconst = batch.column("tconst")
        missing_id = imdb_columns.bad_ids(tconst)
        _stop_early(report, parsed_seen + batch.num_rows, int(missing_id.sum()))
        rating_text = batch.column("averageRating")
        try:
            rating = pc.cast(rating_text, pa.float64())
        except pa.ArrowInvalid:
            ok = pc.match_substring_regex(rating_text, r"^[0-9]+(\.[0-9]+)?$")
            rating = pc.cast(pc.if_else(ok, rating_text, pa.scalar(None, pa.string())), pa.float64())
        rating_np = rating.to_numpy(zero_copy_only=False)
        # A missing rating in a ratings row is as malformed as a wrong one: the row has no purpose.
        bad_rating = ~((rating_np >= 0) & (rating_np <= 10))       # NaN (null, nan, text) fails too
        votes, bad_votes = imdb_columns.whole_numbers(batch.column("numVotes"))
        bad_votes = bad_votes | pc.is_null(votes).to_numpy(zero_copy_only=False).astype(bool)
        taken = missing_id.copy()
        _record_bad(report, batch, parsed_seen, missing_id, "bad_tconst", "tconst")
        long_lines = _too_long_lines(report, batch)
        for mask, reason, column in ((long_lines, "line_too_long", "tconst"),
                                     (bad_rating, "bad_average_rating", "averageRating"),
                                     (bad_votes, "bad_num_votes", "numVotes")):
            mask = mask & ~taken
            _record_bad(report, batch, parsed_seen, mask, reason, column)
            taken |= mask
        where = np.flatnonzero(~taken)
        if where.size:
            idx = pa.array(where)
            pieces.append(pa.table({
                "line": pa.array(_lines_of(report, parsed_seen + where)),
                "tconst": tconst.take(idx),
                "tid": imdb_columns.id_numbers(tconst.take(idx)),
                "averageRating": rating.take(idx),
                "numVotes": votes.take(idx),
            }))
        parsed_seen += batch.num_rows
        report.lines = parsed_seen + len(report._bad_rows)
        report.check_limits()
    report.lines = parsed_seen + len(report._bad_rows)
    report.rows_ok = report.rows_kept = sum(p.num_rows for p in pieces)
    if pieces:
        table = pa.concat_tables(pieces)
    else:
        table = pa.table({"line": pa.array([], pa.int64()), "tconst": pa.array([], pa.string()),
                          "tid": pa.array([], pa.int64()), "averageRating": pa.array([], pa.float64()),
                          "numVotes": pa.array([], pa.int64())})
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype()}.get)
    frame["line"] = frame["line"].astype("int64")
    frame["tid"] = frame["tid"].astype("int64")
    frame["averageRating"] = frame["averageRating"].astype("float64")
    return frame, report
