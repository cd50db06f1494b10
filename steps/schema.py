"""The one place that knows MyFlix's names: features, defaults, file names, container paths, AWS names.

Every step script, the pipeline definition, the local runner and the tests import these names
from here; nothing else spells them out. (The serving side is deployed on its own and reads the
feature order from the model artefact and the published table, never from this module.)

The defaults follow the source tutorial (docs/steps.md says where each comes from); each is a
pipeline parameter, so nothing here is fixed for a user.
"""
from __future__ import annotations

# --- IMDb's published files -------------------------------------------------------------------
BASICS_COLUMNS = ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
                  "startYear", "endYear", "runtimeMinutes", "genres")
RATINGS_COLUMNS = ("tconst", "averageRating", "numVotes")
IMDB_NULL = "\\N"
BASICS_FILE_STEM = "title.basics.tsv"     # read as .tsv or .tsv.gz
RATINGS_FILE_STEM = "title.ratings.tsv"
ALL_IMDB_GENRES = (
    "Action", "Adult", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary",
    "Drama", "Family", "Fantasy", "Film-Noir", "Game-Show", "History", "Horror", "Music",
    "Musical", "Mystery", "News", "Reality-TV", "Romance", "Sci-Fi", "Short", "Sport",
    "Talk-Show", "Thriller", "War", "Western",
)

# --- features ---------------------------------------------------------------------------------
ID_COLUMN = "tconst"
# The 26 features, in this order: startYear, runtimeMinutes, one column per kept genre (named
# exactly as IMDb spells the genre, alphabetical), averageRating, numVotes. Preprocess writes the
# order it used to features.json; every later step and the API read it from there.
LEADING_NUMERIC_FEATURES = ("startYear", "runtimeMinutes")
TRAILING_NUMERIC_FEATURES = ("averageRating", "numVotes")
DEFAULT_DROPPED_GENRES = ("Short", "Reality-TV", "News", "Game-Show", "Talk-Show", "Adult")
# catalog.parquet columns (what a person reads; the features are what the model reads)
CATALOG_COLUMNS = ("tconst", "title", "year", "runtime", "genres", "rating", "votes")
# catalog.parquet holds EVERY valid film; these two say whether it is in the training set, and if
# not, which fence (one of TRAINING_FENCES, the first in this order) kept it out ("" inside)
CATALOG_TRAINING_COLUMNS = ("in_training", "outside_training")
TRAINING_FENCES = ("year_fence", "runtime_cap", "dropped_genres")

# --- parameter defaults (names match the pipeline parameters and the step arguments) ---------
DEFAULTS = {
    # ingest: where IMDb publishes title.basics.tsv.gz and title.ratings.tsv.gz (daily)
    "imdb_base_url": "https://datasets.imdbws.com/",
    # preprocess
    "title_type": "movie",
    "year_iqr_multiplier": 1.5,      # IQR fence on startYear; 0 turns the fence off
    "min_year": 0,                   # > 0: a fixed lower bound used instead of the IQR fence
    "runtime_cap": 182,              # minutes; longer movies are dropped
    "runtime_bin_width": 30,         # minutes, for the runtime bins of the quality report
    "min_rating": 5.0,
    "min_votes": 500,
    "dropped_genres": ",".join(DEFAULT_DROPPED_GENRES),
    "max_bad_fraction": 0.01,        # malformed lines above this share fail the step
    # bounds on every input, enforced while streaming (Preprocess; Ingest checks max_input_mb too).
    # IMDb's own files sit far inside them: 12M lines, 1 GB decompressed, lines < 1 KB, titles < 500.
    "max_line_bytes": 65536,         # a longer line is malformed (line_too_long)
    "max_field_chars": 1000,         # a longer title, genres, ... is malformed (field_too_long)
    "max_rows": 30_000_000,          # lines per file; more fails the step
    "max_input_mb": 8192,            # decompressed size per file, MiB; more fails the step
    "max_memory_mb": 12288,          # peak memory of Preprocess, MiB (ml.m5.xlarge has 16 GiB)
    # train_scaler
    "scaler": "standard",            # or "minmax"
    # tune_kmeans
    "k_min": 2,
    "k_max": 50,
    "k_override": 0,                 # > 0: use this k instead of the detected knee
    "seed": 42,
    # evaluate
    "silhouette_sample": 10000,
    "recall_queries": 500,
    "recall_k": 10,
    "churn_queries": 2000,           # movies sampled for the similar-list churn against production
    # quality gate (measured on the demo data, 9,168 movies: the knee k=19 gives silhouette 0.22,
    # recall@10 0.99, largest share 0.19; k=2 has share 0.80, a random assignment recall 0.04)
    "min_silhouette": 0.10,
    "min_recall_at_k": 0.50,
    "max_cluster_share": 0.50,
    # against the production model (0 with nothing in production). Measured on the demo data by
    # benchmarks/calibrate_drift_gate.py: a quarter of IMDb updates gives PSI 0.010 and churn
    # 0.001, min_votes 500->1000 PSI 0.118 and churn 0.008; votes published in thousands PSI 8.3,
    # 30% of runtimes missing churn 0.046, a min-max scaler churn 0.068 (docs/steps.md, "Quality gate defaults")
    "max_similar_churn": 0.03,
    "max_feature_psi": 0.25,
    # interactions (PrepareInteractions; docs/steps.md "Interactions"): implicit weight per event,
    # play > like > list_add > view; a rating above rating_neutral (IMDb's 0-10 scale) weighs up
    # to weight_like at 10, at or below it the pair is a dislike
    "weight_play": 3.0,
    "weight_like": 2.0,
    "weight_list_add": 1.0,
    "weight_view": 0.25,
    "rating_neutral": 5.0,
    "min_viewer_interactions": 3,    # viewers with fewer positive films are dropped
    "min_film_interactions": 2,      # films with fewer viewers are dropped
    "test_fraction": 0.2,            # each viewer's latest positives held out for Evaluate
    "validation_fraction": 0.1,      # the next latest, for tuning TrainRecommender
    "max_interaction_rows": 50_000_000,   # read bound over every source together
    "max_interaction_mb": 4096,           # MiB read over every source (as stored: gzip counts packed)
    # simulated viewers: the demo's only (myflix run sets it when nothing real exists; 0 = never)
    "simulated_viewers": 0,
    # train_recommender: too few interactions -> collaborative skipped ("kind": "none")
    "min_interactions": 1000,
    # quality gate on ranking (skipped when collaborative is skipped or the viewers are simulated)
    "min_ndcg_lift_over_popularity": 0.05,   # hybrid NDCG@10 >= popularity's * (1 + this)
    "ranking_k": 10,
    # the deployer's endpoints (deployer/): serverless inference unless an instance type is given
    "instance_type": "",
    "serverless_memory_mb": 2048,
    "serverless_max_concurrency": 5,
}

# --- file names inside step outputs and model artefacts -------------------------------------
FEATURES_PARQUET = "features.parquet"              # the training set's features
CATALOG_FEATURES_PARQUET = "catalog_features.parquet"   # every catalogue film's (beside features.json)
FEATURES_JSON = "features.json"
CATALOG_PARQUET = "catalog.parquet"
QUALITY_JSON = "quality.json"
SCALER_JOBLIB = "scaler.joblib"
SCALER_JSON = "scaler.json"
MODEL_JOBLIB = "model.joblib"
MODEL_JSON = "model.json"
MODEL_TARBALL = "model.tar.gz"
ELBOW_JSON = "elbow.json"
EVALUATION_JSON = "evaluation.json"
INTERACTIONS_PARQUET = "interactions.parquet"
INTERACTIONS_JSON = "interactions.json"
RECOMMENDER_NPZ = "recommender.npz"
RECOMMENDER_JSON = "recommender.json"
RECOMMENDER_HELDOUT_DIR = "heldout"     # inside the recommender artefact: the fit without test pairs
# Publish copies the recommender beside the table's parquet under these names (docs/CONTRACTS.md)
TABLE_RECOMMENDER_NPZ = "_myflix_recommender.npz"
TABLE_RECOMMENDER_JSON = "_myflix_recommender.json"
TABLE_RECOMMENDER_PARAMETER = "myflix_recommender"
RECOMMENDER_URI_KEY = "myflix_recommender_uri"     # Register's CustomerMetadataProperties
SIMULATED_VIEWER_PREFIX = "sim-"                  # every simulated viewer id starts with this

# --- container paths (what a step script knows; the local runner maps them to folders) ------
PROCESSING_ROOT = "/opt/ml/processing"
PROCESSING_CODE_DIR = f"{PROCESSING_ROOT}/input/code"
# Training code arrives as an input channel, as SDK v2/v3 ship it: an isolated job (no network, no
# credentials) cannot download an s3:// submit directory itself.
TRAINING_CODE_CHANNEL = "code"
TRAINING_SUBMIT_DIRECTORY = f"/opt/ml/input/data/{TRAINING_CODE_CHANNEL}/sourcedir.tar.gz"

# --- AWS names --------------------------------------------------------------------------------
GLUE_DATABASE = "myflix"
GLUE_TABLE = "movie_clusters"
MODEL_PACKAGE_GROUP = "myflix-movie-clusters"
PIPELINE_NAME = "myflix-movie-clusters"
ENDPOINT_NAME = "myflix-movie-clusters"
STAGING_ENDPOINT_NAME = ENDPOINT_NAME + "-staging"   # the deployer smoke-tests each approved model here
# Bucket layout: one prefix per kind of object.
RAW_PREFIX = "raw"                   # raw/title.basics.tsv.gz, raw/title.ratings.tsv.gz
CODE_PREFIX = "code"                 # code/<sha256>/... (content-hash keys, never timestamps)
RUNS_PREFIX = "runs"                 # runs/<pipeline>/<execution id>/<step>/<output>/
TABLE_PREFIX = "tables/movie_clusters"   # tables/movie_clusters/<execution id>/part-*.parquet
EVENTS_PREFIX = "events"             # events/dt=YYYY-MM-DD/*.jsonl[.gz] (the API / Firehose)
FORGOTTEN_PREFIX = "events/forgotten"    # events/forgotten/<sha256 of viewer id>.json
