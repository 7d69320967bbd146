"""Benchmarks of the parts of a request, each on the serving state's own data and code.

- ranker: items scored per second by the serving ranker, beside the same matrix products bare;
- pixie: pin -> board -> pin steps per second on one core, and the latency of 100k-step queries;
- ann: recall@100 and queries per second of pgvector HNSW against exact search in numpy;
- feature_lookup: the feature join of one user as each request does it, and the online-store read
  it falls back to for users who arrived since the service loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_info

from features.store import fill_missing_features, online_features
from models.pin_board_graph import PinBoardGraph
from models.pixie import PixieConfig, pixie_walk
from models.served.ranker import ServedRanker
from service.scoring import candidate_similarities, learned_pin_vectors, ranker_inputs, score
from service.serving_state import ServingState
from service.user_context import user_features
from sql.embeddings import VectorSearch, nearest_pins_many

RANKER_BATCH = 1000  # about one home-feed request's candidates
PIXIE_QUERY_STEPS = 100_000
PIXIE_QUERY_PINS = 10
ANN_K = 100


def timed_runs(run: Callable[[], object], *, runs: int) -> np.ndarray:
    """Seconds of each of ``runs`` calls of ``run``, after one untimed call."""
    run()
    seconds = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        run()
        seconds[i] = time.perf_counter() - start
    return seconds


def _ms(seconds: np.ndarray, quantile: float) -> float:
    return round(float(np.quantile(seconds, quantile)) * 1000, 3)


def ranker_throughput(
    state: ServingState, *, runs: int, seed: int = 0
) -> dict[str, float]:
    """Items per second of the ranker's forward pass, of the whole scoring step (feature assembly
    included) and of the bare matrix products of the same shapes, on ``RANKER_BATCH`` pins."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(
        len(state.vectors.model.pin_ids),
        size=min(RANKER_BATCH, len(state.vectors.model.pin_ids)),
        replace=False,
    )
    user = int(rng.choice(state.vectors.model.user_ids))
    features = state.encoder.encode_users(
        fill_missing_features(online_features(state.store, user_ids=[user]), state.defaults)
    )
    vector = state.vectors.model.user_vectors[
        int(np.searchsorted(state.vectors.model.user_ids, user))
    ]
    interest = np.full(
        len(state.pins.categories), 1.0 / len(state.pins.categories), dtype=np.float32
    )
    sources = {int(row): ["bench"] for row in rows}
    user_side = {"user_features": features, "user_vector": vector, "user_interest": interest}
    learned_user = learned_pin_vectors(state, int(rows[0]))  # the first pin's stand in for a history's means

    def score_all() -> object:
        return score(state, sources, **user_side, learned_user=learned_user)

    similarities = candidate_similarities(state, rows, learned_user)
    inputs = ranker_inputs(state, rows, **user_side, similarities=similarities)
    bare = _bare_matmuls(state.ranker, np.ascontiguousarray(inputs, dtype=np.float32))
    per_batch = {
        "items_per_s": timed_runs(lambda: state.ranker.predict(inputs), runs=runs),
        "score_items_per_s": timed_runs(score_all, runs=runs),
        "bare_matmul_items_per_s": timed_runs(bare, runs=runs),
    }
    result = {
        name: round(len(rows) / float(np.median(seconds)))
        for name, seconds in per_batch.items()
    }
    result["ratio_to_bare"] = round(
        result["bare_matmul_items_per_s"] / result["items_per_s"], 2
    )
    blas_threads = max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)
    return {"batch": len(rows), "blas_threads": blas_threads, **result}


def _bare_matmuls(ranker: ServedRanker, inputs: np.ndarray) -> Callable[[], np.ndarray]:
    """The ranker's matrix products alone, on pre-transposed weights: the floor of its forward pass."""
    weights = [np.ascontiguousarray(weight.T) for name, weight in ranker.weights.items() if name.endswith(".weight")]

    def run() -> np.ndarray:
        out = inputs
        for weight in weights:
            out = out @ weight
        return out

    return run


def pixie_speed(
    graph: PinBoardGraph, *, queries: int, seed: int = 0
) -> dict[str, float]:
    """Steps per second of full 100k-step queries (early stopping off, so every step is taken)
    from ``PIXIE_QUERY_PINS`` random pins with boards, and their latency."""
    with_boards = np.flatnonzero(np.diff(graph.pin_indptr) > 0)
    rng = np.random.default_rng(seed)
    config = PixieConfig(
        total_steps=PIXIE_QUERY_STEPS, early_stop_pins=len(graph.pin_ids) + 1
    )
    seeds = [
        rng.choice(
            with_boards, size=min(PIXIE_QUERY_PINS, len(with_boards)), replace=False
        )
        for _ in range(queries)
    ]
    weights = np.ones(PIXIE_QUERY_PINS)
    pixie_walk(graph, seeds[0], weights[: len(seeds[0])], config)  # pages the graph in
    seconds, steps = np.empty(queries), 0
    for i, query in enumerate(seeds):
        start = time.perf_counter()
        result = pixie_walk(graph, query, weights[: len(query)], config)
        seconds[i] = time.perf_counter() - start
        steps += result.steps_taken
    return {
        "pins": len(graph.pin_ids),
        "edges": int(graph.pin_indptr[-1]),
        "steps_per_s": round(steps / float(seconds.sum())),
        "query_steps": PIXIE_QUERY_STEPS,
        "query_p50_ms": _ms(seconds, 0.5),
        "query_p99_ms": _ms(seconds, 0.99),
    }


def ann_quality(
    state: ServingState, *, queries: int, seed: int = 0
) -> dict[str, float]:
    """Recall@100 of pgvector HNSW against exact cosine search over the same pin vectors, with
    users' vectors as queries, and the queries per second of both."""
    model = state.vectors.model
    users = np.flatnonzero(np.any(model.user_vectors != 0, axis=1))
    chosen = np.random.default_rng(seed).choice(
        users, size=min(queries, len(users)), replace=False
    )
    targets = model.user_vectors[chosen].astype(np.float32)
    # Pins without a vector are not in the index either: both searches cover the same pins.
    indexed = np.flatnonzero(np.any(model.pin_vectors != 0, axis=1))
    pins = model.pin_vectors[indexed].astype(np.float32)
    unit = pins / np.linalg.norm(pins, axis=1, keepdims=True)
    k = min(ANN_K, len(indexed))

    def exact(query: np.ndarray) -> np.ndarray:
        return model.pin_ids[indexed[np.argpartition(-(unit @ query), k - 1)[:k]]]

    start = time.perf_counter()
    truth = [exact(query) for query in targets]
    exact_seconds = time.perf_counter() - start
    found = []
    with state.database.engine.connect() as conn:  # the request pool: the serving HNSW settings
        start = time.perf_counter()
        for query in targets:
            hits = nearest_pins_many(conn, [VectorSearch(state.embedding_version, query, k)], exclude=[])[0]
            found.append(np.array([pin for pin, _ in hits]))
        hnsw_seconds = time.perf_counter() - start
    recall = np.mean(
        [len(np.intersect1d(hits, best)) / k for hits, best in zip(found, truth)]
    )
    return {
        "pins": len(pins),
        "queries": len(targets),
        "k": k,
        "ef_search": state.settings.hnsw_ef_search,
        "recall_at_100": round(float(recall), 4),
        "hnsw_qps": round(len(targets) / hnsw_seconds, 1),
        "exact_numpy_qps": round(len(targets) / exact_seconds, 1),
    }


def feature_lookup_latency(
    state: ServingState, *, lookups: int, seed: int = 0
) -> dict[str, float]:
    """Latency of one user's feature join as a request does it (the user table cached at load),
    and of the online-store read (Feast, defaults, encoding) it falls back to for users who
    arrived since the load."""
    users = np.random.default_rng(seed).choice(state.users.user_ids, size=lookups).tolist()

    def timed(lookup: Callable[[int], object]) -> np.ndarray:
        seconds = np.empty(lookups)
        for i, user in enumerate(users):
            start = time.perf_counter()
            lookup(user)
            seconds[i] = time.perf_counter() - start
        return seconds

    served = timed(lambda user: user_features(state, user))
    online = timed(
        lambda user: state.encoder.encode_users(
            fill_missing_features(online_features(state.store, user_ids=[user]), state.defaults)
        )
    )
    return {
        "lookups": lookups,
        "p50_ms": _ms(served, 0.5),
        "p99_ms": _ms(served, 0.99),
        "online_store_p50_ms": _ms(online, 0.5),
        "online_store_p99_ms": _ms(online, 0.99),
    }
