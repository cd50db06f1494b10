"""steps/recommender.py: planted co-like structure recovered by every method, the artefact's
contract (arrays, sha256 refusal, the "none" artefact), tuning, and the ALS solver's accuracy."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from steps import hybrid, recommender
from steps.recommender import Recommender, RecommenderError

TASTES, PER_TASTE = 3, 20


def film(taste: int, j: int) -> str:
    return f"tt{1_000_000 + taste * 100 + j:07d}"


def planted(viewers: int = 300, likes: int = 8, seed: int = 0, noise: int = 0) -> pd.DataFrame:
    """Each viewer likes `likes` films of one taste (a block of 20 films), plus `noise` random films."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(viewers):
        taste = v % TASTES
        for j in rng.choice(PER_TASTE, likes, replace=False):
            rows.append((f"v{v}", film(taste, int(j)), 1.0))
        for _ in range(noise):
            rows.append((f"v{v}", film(int(rng.integers(TASTES)), int(rng.integers(PER_TASTE))), 1.0))
    return pd.DataFrame(rows, columns=["viewer_id", "tconst", "weight"])


def taste_of(tconst: str) -> int:
    return (int(tconst[2:]) - 1_000_000) // 100


PARAMS = {"itemknn": {}, "ease": {"l2": 10.0}, "als": {"factors": 8, "iterations": 8, "alpha": 5.0}}


@pytest.mark.parametrize("method", sorted(PARAMS))
def test_every_method_recovers_planted_tastes(method):
    frame = planted(noise=1)
    model = Recommender(method=method, neighbours=5, **PARAMS[method]).fit(frame)
    assert list(model.items_) == sorted(model.items_)
    same = [taste_of(model.items_[j]) == taste_of(model.items_[i])
            for i in range(len(model.items_)) for j in model.neighbours_[i] if j >= 0]
    assert np.mean(same) > 0.9
    history = [film(1, 0), film(1, 1), film(1, 2)]
    recs = model.recommend(history, 5, exclude=[film(1, 3)])
    assert len(recs) == 5 and not set(recs) & {*history, film(1, 3)}
    assert all(taste_of(t) == 1 for t in recs)


def test_arrays_follow_the_contract():
    frame = planted()
    frame = pd.concat([frame, frame.head(3)])          # duplicates sum
    model = Recommender(neighbours=7).fit(frame)
    arrays = model.arrays()
    n = len(arrays["items"])
    assert arrays["items"].dtype.kind == "U" and arrays["viewers"].dtype.kind == "U"
    assert arrays["neighbours"].dtype == np.int32 and arrays["neighbours"].shape == (n, 7)
    assert arrays["neighbour_scores"].dtype == np.float32
    assert arrays["popularity"].dtype == np.float32
    assert arrays["popularity"].sum() == pytest.approx(len(frame))
    assert arrays["viewer_indptr"].dtype == np.int64
    assert arrays["viewer_indptr"][-1] == len(arrays["viewer_items"])
    assert len(arrays["viewers"]) == 300
    assert (np.diff(arrays["neighbour_scores"], axis=1) <= 1e-7).all()     # best first
    assert not (arrays["neighbours"] == np.arange(n)[:, None]).any()      # never itself
    v0 = int(np.searchsorted(arrays["viewers"], "v0"))
    a, z = arrays["viewer_indptr"][v0:v0 + 2]
    got = set(arrays["items"][arrays["viewer_items"][a:z]])
    assert got == set(frame.loc[frame["viewer_id"] == "v0", "tconst"])


def test_itemknn_pads_with_minus_one_when_nothing_co_occurs():
    frame = pd.DataFrame({"viewer_id": ["a", "a", "b"], "tconst": ["tt0000001", "tt0000002", "tt0000003"],
                          "weight": 1.0})
    model = Recommender(method="itemknn", neighbours=2).fit(frame)
    assert model.neighbours_[2].tolist() == [-1, -1]
    assert model.neighbours_[0].tolist() == [1, -1]


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(RecommenderError, match="weight"):
        Recommender().fit(pd.DataFrame({"viewer_id": ["a"], "tconst": ["tt0000001"]}))
    with pytest.raises(RecommenderError, match="method"):
        Recommender(method="svd").fit(planted(30))
    with pytest.raises(RecommenderError, match="unknown recommender parameter"):
        Recommender().set_params(factor=3)


def test_save_load_round_trip_and_tampering_refused(tmp_path):
    model = Recommender(method="itemknn", neighbours=5).fit(planted())
    meta = recommender.save(model, tmp_path, simulated=True, validation={"ndcg": 0.5})
    arrays, loaded = recommender.load(tmp_path)
    assert loaded == json.loads((tmp_path / "recommender.json").read_text()) == meta
    assert loaded["kind"] == "itemknn" and loaded["simulated"] is True and loaded["n_viewers"] == 300
    assert loaded["validation"] == {"ndcg": 0.5}
    for name, value in model.arrays().items():
        np.testing.assert_array_equal(arrays[name], value)
    # the served ranking reads the same bytes with the same check
    data = (tmp_path / "recommender.npz").read_bytes()
    assert hybrid.Hybrid.from_npz_bytes(data, loaded).similar(film(0, 0), 3)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    (tmp_path / "recommender.npz").write_bytes(bytes(tampered))
    with pytest.raises(RecommenderError, match="digest"):
        recommender.load(tmp_path)
    with pytest.raises(hybrid.HybridError, match="digest"):
        hybrid.Hybrid.from_npz_bytes(bytes(tampered), loaded)


def test_none_artefact_says_why(tmp_path):
    meta = recommender.save(None, tmp_path, reason="skipped: 12 interactions, fewer than 1000")
    arrays, loaded = recommender.load(tmp_path)
    assert loaded["kind"] == "none" and loaded["reason"].startswith("skipped")
    assert len(arrays["items"]) == 0 and meta["n_items"] == 0
    served = hybrid.Hybrid.from_npz_bytes((tmp_path / "recommender.npz").read_bytes(), loaded,
                                          popular=["tt0000009"])
    assert [p.kind for p in served.similar("tt0000001", 1)] == ["popular"]


def test_tune_picks_the_better_combination():
    frame = planted(noise=2, seed=1)
    rng = np.random.default_rng(3)
    val_mask = rng.random(len(frame)) < 0.2
    train, validation = frame[~val_mask], frame[val_mask]
    best, table = recommender.tune(train, validation, {"method": ["itemknn"], "neighbours": [1, 15]})
    assert len(table) == 2 and set(table["neighbours"]) == {1, 15}
    assert best["neighbours"] == int(table.sort_values("ndcg").iloc[-1]["neighbours"])
    assert table["ndcg"].max() > table["ndcg"].min()
    with pytest.raises(RecommenderError, match="empty"):
        recommender.tune(train, validation, [])


def test_als_half_sweep_solves_the_normal_equations():
    rng = np.random.default_rng(0)
    conf = sp.random(40, 30, density=0.2, random_state=1, format="csr", dtype=np.float64)
    conf.data = 5.0 * np.ceil(conf.data * 3)
    fixed = rng.standard_normal((30, 4)).astype(np.float32)
    reg = 0.5
    got = recommender._als_half(conf, fixed, np.zeros((40, 4), np.float32), reg, steps=8, chunk_nnz=17)
    y = fixed.astype(np.float64)
    for u in range(40):
        c = conf[u].toarray().ravel()
        a = y.T @ y + y.T @ (c[:, None] * y) + reg * np.eye(4)
        b = y.T @ ((1.0 + c) * (c > 0))
        np.testing.assert_allclose(got[u], np.linalg.solve(a, b), rtol=1e-3, atol=1e-3)


def test_ease_lists_keep_the_negative_tail_best_first_and_the_hybrid_never_serves_a_no():
    frame = planted(noise=1)
    model = Recommender(method="ease", neighbours=40, l2=10.0).fit(frame)
    scores = model.neighbour_scores_
    assert (scores < 0).any() and (scores > 0).any()
    assert (np.diff(scores, axis=1) <= 1e-7).all()                     # best first, negatives last
    # the kept entries are the row's largest |B|
    b = model.ease_weights_
    local = {t: i for i, t in enumerate(model.ease_items_)}
    row = local[0]
    kept = np.abs(scores[0][model.neighbours_[0] >= 0]).min()
    others = np.delete(np.abs(b[row]), [local[j] for j in model.neighbours_[0] if j >= 0] + [row])
    assert kept >= others.max() - 1e-6
    served = hybrid.Hybrid.from_arrays(model.arrays(), popularity_weight=0.0, taste_decay=1.0)
    picks = served.similar(model.items_[0], 60)
    negative = {model.items_[j] for j, s in zip(model.neighbours_[0], scores[0]) if j >= 0 and s < 0}
    assert not negative & {p.tconst for p in picks if p.kind == "collaborative"}


def test_the_json_records_the_served_hybrid_parameters(tmp_path):
    meta = recommender.save(Recommender(neighbours=3).fit(planted(30)), tmp_path)
    assert meta["hybrid"] == recommender.HYBRID_PARAMS
    hybrid.Hybrid.from_arrays(recommender.load(tmp_path)[0], **meta["hybrid"])    # keywords it takes
    other = recommender.save(None, tmp_path / "x", hybrid={"taste_decay": 0.5})
    assert other["hybrid"] == {"taste_decay": 0.5}
