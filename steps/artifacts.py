"""MyFlix's artefact files: digests, model.tar.gz unpacking, the scaler and model artefacts, features.

Owns the on-disk formats of docs/CONTRACTS.md ("Artefacts"): `scaler.joblib` + `scaler.json`,
`model.joblib` + `model.json` + `code/inference.py`, and reading `features.parquet` +
`features.json`. Every load checks the sha256 recorded when the file was written, so a model is
only ever unpickled from the project's own, unchanged artefact.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn

from steps import local_layout, schema  # local_layout: a copy of local_aws/layout.py

UNPACKED_SUFFIX = ".unpacked"      # <folder>.unpacked beside a folder holding model.tar.gz
UNPACK_MARKER = ".myflix-unpacked-from"   # holds the sha256 of the tarball it came from
INFERENCE_CODE = "code/inference.py"      # where the serving handler sits inside the model artefact



def read_parquet_table(path: str | Path) -> pa.Table:
    """A parquet file, or every `*.parquet` file of a folder (not `_`/`.` names), read on this thread.

    Arrow's dataset scanner (what `pd.read_parquet` uses) can leave pool threads that abort the
    interpreter at exit (`terminate called without an active exception`, exit -6; apache/arrow
    issue 34314), failing a job after its work is done; a single-threaded file read starts none."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(("_", "."))) \
        if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no parquet file in {path}")
    tables = [pq.ParquetFile(f, pre_buffer=False).read(use_threads=False) for f in files]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_parquet(path: str | Path) -> pd.DataFrame:
    """`read_parquet_table` as a DataFrame (converted on this thread too)."""
    return read_parquet_table(path).to_pandas(use_threads=False)

class ArtifactError(Exception):
    """An artefact is missing, malformed or does not match its recorded digest (a user-fixable problem)."""


# --- digests ----------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks (model files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_digest(path: Path, expected: str | None) -> None:
    """Fail clearly when `path` does not hash to the digest recorded beside it."""
    if not expected:
        raise ArtifactError(f"{path.name} has no sha256 recorded beside it: the artefact is incomplete; "
                            "retrain it with this project's steps")
    if sha256_file(path) != expected:
        raise ArtifactError(f"{path.name} does not match the digest recorded when it was written: the "
                            f"artefact was changed or corrupted; retrain or restore it ({path})")


# --- model.tar.gz -----------------------------------------------------------------------------
def _check_member(member: tarfile.TarInfo, tarball: Path) -> None:
    """Refuse anything that could land outside the target folder or is not a plain file/folder."""
    name = member.name
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ArtifactError(f"{tarball} holds an entry with an unsafe path ({name!r}): refusing to unpack it; "
                            "the artefact was not written by this project")
    if not (member.isfile() or member.isdir()):
        raise ArtifactError(f"{tarball} holds {name!r}, which is neither a file nor a folder (link or device): "
                            "refusing to unpack it; the artefact was not written by this project")


def unpack_tarball(tarball: Path, target: Path) -> Path:
    """Unpack `tarball` into `target` safely (no path traversal, no links), once per tarball content.

    The target is filled through a temporary sibling and renamed into place, so a crash never
    leaves a half-unpacked folder that a later call would trust.
    """
    tarball = Path(tarball)
    target = Path(target)
    digest = sha256_file(tarball)
    marker = target / UNPACK_MARKER
    if marker.is_file() and marker.read_text().strip() == digest:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(tarball, "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member, tarball)
            archive.extractall(staging, members=members, filter="data")
        (staging / UNPACK_MARKER).write_text(digest + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except tarfile.TarError as err:
        raise ArtifactError(f"{tarball} is not a readable tar.gz ({err}): re-run the step that wrote it") from err
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def open_model_dir(path: str | os.PathLike) -> Path:
    """The folder holding an artefact's files.

    `path` may be a folder of plain files (returned as is), a folder holding `model.tar.gz`
    (unpacked once into the sibling folder `<path>.unpacked`, which is returned), or the
    `model.tar.gz` file itself (unpacked into `<its folder>.unpacked`).
    """
    path = Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        tarball, folder = path, path.parent
    elif path.is_dir():
        tarball, folder = path / schema.MODEL_TARBALL, path
        if not tarball.is_file():
            return path
    else:
        raise ArtifactError(f"{path} does not exist: pass the folder that holds the artefact "
                            f"(its files, or {schema.MODEL_TARBALL})")
    target = folder.parent / (folder.name + UNPACKED_SUFFIX)
    try:
        return unpack_tarball(tarball, target)
    except OSError:
        # A read-only input mount (EACCES, EROFS): unpack under the temp folder instead, keyed by content.
        fallback = Path(tempfile.gettempdir()) / f"myflix-{sha256_file(tarball)[:16]}{UNPACKED_SUFFIX}"
        return unpack_tarball(tarball, fallback)


# --- JSON helpers ---------------------------------------------------------------------------------
def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename), sorted keys, so equal content gives equal bytes."""
    local_layout.write_json_atomic(path, payload, sort_keys=True, default=None)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object, failing with a message that names the file and what it should be."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: {what}")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path} is not valid JSON ({err}): {what}") from err
    if not isinstance(payload, dict):
        raise ArtifactError(f"{path} should hold a JSON object: {what}")
    return payload


# --- features -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """The feature table as the model reads it: ids, a float64 matrix, and the column order."""
    ids: np.ndarray          # object array of tconst strings
    X: np.ndarray            # float64, shape (n, len(names)), columns in `names` order
    names: list[str]
    meta: dict[str, Any]     # features.json as written by preprocess


def read_features(folder: str | os.PathLike, parquet_name: str = schema.FEATURES_PARQUET) -> Features:
    """Read features.parquet (or `parquet_name`, e.g. the catalogue's) + features.json from `folder`,
    columns in the recorded order."""
    folder = Path(folder)
    meta = read_json(folder / schema.FEATURES_JSON,
                     "the Preprocess step writes features.json beside features.parquet; pass its output folder")
    names = meta.get("features")
    id_column = meta.get("id_column", schema.ID_COLUMN)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ArtifactError(f"{folder / schema.FEATURES_JSON} has no 'features' list of names: re-run Preprocess")
    parquet = folder / parquet_name
    if not parquet.is_file():
        raise ArtifactError(f"{parquet} is missing: pass the Preprocess step's features output folder")
    frame = read_parquet(parquet)
    missing = [c for c in [id_column, *names] if c not in frame.columns]
    if missing:
        raise ArtifactError(f"{parquet} lacks the columns {missing} that features.json lists: "
                            "the two files come from different runs; re-run Preprocess")
    X = frame[names].to_numpy(dtype=np.float64, copy=True)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        sample = frame.loc[bad, id_column].astype(str).head(5).tolist()
        raise ArtifactError(f"{parquet}: {int(bad.sum())} of {len(frame)} rows hold a missing or infinite "
                            f"feature value (for example {sample}); Preprocess must drop or fill them")
    if len(frame) == 0:
        raise ArtifactError(f"{parquet} holds no movies: loosen the Preprocess filters or check the input files")
    ids = frame[id_column].astype(str).to_numpy(dtype=object)
    return Features(ids=ids, X=X, names=list(names), meta=meta)


# --- scaler artefact ------------------------------------------------------------------------------
def save_scaler(scaler: Any, kind: str, features: list[str], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write scaler.joblib and scaler.json (kind, feature order, digest, scikit-learn version)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib_path = out_dir / schema.SCALER_JOBLIB
    joblib.dump(scaler, joblib_path)
    meta = {"kind": kind, "features": list(features),
            "sha256": {schema.SCALER_JOBLIB: sha256_file(joblib_path)},
            "sklearn_version": sklearn.__version__}
    write_json(out_dir / schema.SCALER_JSON, meta)
    return meta


def load_scaler(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Load the scaler artefact (folder, folder with model.tar.gz, or the tarball), digest checked."""
    folder = open_model_dir(path)
    meta = read_json(folder / schema.SCALER_JSON,
                     "the TrainScaler step writes scaler.json beside scaler.joblib; pass its model folder")
    joblib_path = folder / schema.SCALER_JOBLIB
    if not joblib_path.is_file():
        raise ArtifactError(f"{joblib_path} is missing: pass the TrainScaler step's model output")
    verify_digest(joblib_path, (meta.get("sha256") or {}).get(schema.SCALER_JOBLIB))
    return joblib.load(joblib_path), meta


# --- model artefact -------------------------------------------------------------------------------
def default_inference_source() -> Path:
    """inference/inference.py of this checkout (copied into every model artefact)."""
    return Path(__file__).resolve().parents[1] / "inference" / "inference.py"


def save_model(model: Any, meta: dict[str, Any], out_dir: str | os.PathLike,
               inference_source: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write model.joblib, model.json (meta + digest + scikit-learn version) and code/inference.py.

    `meta` carries `features`, `k`, `seed`, `inertia`. The handler is copied in so the artefact
    serves as is in the SKLearn container (no repack step).
    """
    source = Path(inference_source) if inference_source else default_inference_source()
    if not source.is_file():
        raise ArtifactError(f"{source} is missing: the model artefact must carry the serving handler "
                            "inference/inference.py (it comes with the project's code bundle); restore it")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib_path = out_dir / schema.MODEL_JOBLIB
    joblib.dump(model, joblib_path)
    code = out_dir / INFERENCE_CODE
    code.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, code)
    full = {**meta, "sha256": {schema.MODEL_JOBLIB: sha256_file(joblib_path)},
            "sklearn_version": sklearn.__version__}
    write_json(out_dir / schema.MODEL_JSON, full)
    return full


def load_model(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Load the model artefact (folder, folder with model.tar.gz, or the tarball), digest checked.

    Returns the scikit-learn Pipeline (steps "scaler", "kmeans") and model.json.
    """
    folder = open_model_dir(path)
    meta = read_json(folder / schema.MODEL_JSON,
                     "the TrainKMeans step writes model.json beside model.joblib; pass its model folder")
    joblib_path = folder / schema.MODEL_JOBLIB
    if not joblib_path.is_file():
        raise ArtifactError(f"{joblib_path} is missing: pass the TrainKMeans step's model output")
    verify_digest(joblib_path, (meta.get("sha256") or {}).get(schema.MODEL_JOBLIB))
    model = joblib.load(joblib_path)
    if not hasattr(model, "named_steps") or not {"scaler", "kmeans"} <= set(model.named_steps):
        raise ArtifactError(f"{joblib_path} is not a Pipeline with 'scaler' and 'kmeans' steps: "
                            "it was not written by TrainKMeans; retrain it")
    return model, meta


def check_feature_order(expected: list[str], found: list[str], what: str) -> None:
    """Fail when two artefacts disagree on the feature order (they come from different runs)."""
    if list(expected) != list(found):
        raise ArtifactError(f"{what}: the feature order differs from features.json "
                            f"({list(found)} vs {list(expected)}); re-run the steps from Preprocess on")
