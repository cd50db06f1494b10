"""Evaluate's drift plot from drift.json: what changed against the production model, at a glance.

Three panels: the population stability index of every feature (bars past the default gate in
red), the share of movies per genre before and after, and the churn of the top-10 similar lists
(how many of each common movie's 10 similar movies are still there) with the headline figures
in the title. Nothing is drawn when there was no production model to compare with.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reports._figure import plt, save
from steps import schema

DRIFT_JSON = "drift.json"
DRIFT_PNG = "drift.png"
PSI_MODERATE = 0.10      # the usual reading of PSI: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted


def summary_lines(evaluation: dict) -> list[str]:
    """What `myflix run` prints about production from evaluation.json: the drift and churn figures
    against it, or why there were none (pure; [] for an evaluation.json without them)."""
    drift, churn = evaluation.get("drift"), evaluation.get("churn")
    if not isinstance(drift, dict) or not isinstance(churn, dict):
        return []
    baseline = evaluation.get("baseline")
    if not baseline:
        return [f"against production: {drift.get('status', 'not compared')}"]
    movies = drift.get("movies") or {}
    ari = churn.get("adjusted_rand_index")
    return [f"against production (version {baseline.get('version')}, {baseline.get('model_package_arn')}):",
            f"  drift   largest feature PSI {drift.get('max_feature_psi', 0):.3f} "
            f"({drift.get('max_psi_feature')}), largest KS {drift.get('max_ks', 0):.3f}; "
            f"movies +{movies.get('added', 0):,} -{movies.get('removed', 0):,} "
            f"({movies.get('common', 0):,} in common)",
            f"  churn   {churn.get('similar_churn', 0):.1%} of {churn.get('queries', 0):,} "
            f"movies' top-{churn.get('k')} "
            f"similar lists change by more than half (mean overlap {churn.get('mean_overlap', 0):.1%}); "
            f"adjusted Rand index {'n/a' if ari is None else format(ari, '.3f')}"]


def render(report_dir: Path) -> list[Path]:
    """Write drift.png beside drift.json when it holds a comparison; returns the files written."""
    path = Path(report_dir) / DRIFT_JSON
    if not path.is_file():
        return []
    report = json.loads(path.read_text(encoding="utf-8"))
    if not report.get("features"):
        return []          # no production model (or the comparison was skipped): nothing to show
    return [plot_drift(report, Path(report_dir) / DRIFT_PNG)]


def plot_drift(report: dict, path: Path) -> Path:
    features = report["features"]
    churn = report.get("churn") or {}
    movies = report.get("movies") or {}
    psi_gate = float(schema.DEFAULTS["max_feature_psi"])
    churn_gate = float(schema.DEFAULTS["max_similar_churn"])
    names = list(features)
    psi = np.array([features[n]["psi"] for n in names], dtype=float)
    genres = report.get("genres") or {}

    fig, (ax_psi, ax_genre, ax_churn) = plt.subplots(
        1, 3, figsize=(15.0, max(5.0, 0.22 * len(names) + 1.5)), dpi=100,
        gridspec_kw={"width_ratios": [1.2, 1.2, 1.0]})
    baseline = report.get("baseline") or {}
    ari = churn.get("adjusted_rand_index")
    fig.suptitle(
        f"against production {('version ' + str(baseline.get('version'))) if baseline.get('version') else ''}: "
        f"largest PSI {report.get('max_feature_psi', float(psi.max())):.3f} ({report.get('max_psi_feature')}), "
        f"similar-list churn {churn.get('similar_churn', float('nan')):.1%}, "
        f"adjusted Rand {'n/a' if ari is None else format(ari, '.2f')}, "
        f"movies +{movies.get('added', 0):,} / -{movies.get('removed', 0):,} of {movies.get('before', 0):,}",
        fontsize=11)

    order = np.argsort(psi)
    colours = ["#c44e52" if v > psi_gate else "#dd8452" if v > PSI_MODERATE else "#4c72b0" for v in psi[order]]
    ax_psi.barh([names[i] for i in order], psi[order], color=colours)
    ax_psi.axvline(psi_gate, color="#c44e52", linestyle="--", label=f"default gate {psi_gate:g}")
    ax_psi.axvline(PSI_MODERATE, color="#dd8452", linestyle=":", label=f"moderate {PSI_MODERATE:g}")
    ax_psi.set_xlabel("population stability index")
    ax_psi.set_title("feature drift (PSI)")
    ax_psi.set_xlim(0, max(psi_gate * 1.3, float(psi.max()) * 1.1))
    ax_psi.legend(loc="lower right", fontsize=8)
    ax_psi.tick_params(axis="y", labelsize=8)

    if genres:
        gnames = sorted(genres, key=lambda g: genres[g]["after"])
        y = np.arange(len(gnames))
        ax_genre.barh(y - 0.2, [genres[g]["before"] for g in gnames], height=0.4, color="#8c8c8c", label="production")
        ax_genre.barh(y + 0.2, [genres[g]["after"] for g in gnames], height=0.4, color="#4c72b0", label="new")
        ax_genre.set_yticks(y, gnames, fontsize=8)
        ax_genre.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax_genre.legend(loc="lower right", fontsize=8)
    ax_genre.set_title("movies per genre")
    ax_genre.set_xlabel("share of movies")

    histogram = churn.get("overlap_histogram") or []
    k = int(churn.get("k") or max(len(histogram) - 1, 1))
    if histogram:
        kept = np.arange(len(histogram))
        total = max(sum(histogram), 1)
        ax_churn.bar(kept, np.array(histogram) / total,
                     color=["#c44e52" if 2 * c < k else "#4c72b0" for c in kept])
        ax_churn.set_xticks(kept)
        ax_churn.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax_churn.set_xlabel(f"similar movies kept of {k} (red: more than half changed)")
    ax_churn.set_ylabel(f"share of {churn.get('queries', 0):,} common movies")
    ax_churn.set_title(f"similar-list churn {churn.get('similar_churn', 0):.1%} (default gate {churn_gate:.0%})")
    return save(fig, path)
