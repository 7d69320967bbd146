"""The all-action protocol of PinnerFormer (Pancha et al., 2022): a user's history before a time
cut-off is the input, every pin they engage with in a future window after it is a positive.

Time is cut twice: models learn from what happened before the validation cut-off only; the
validation window (validation cut-off + ``window``) is for early stopping and model choice; the
test window starts where it ends. A stage's input history is everything before its cut-off, so the
test history includes the validation window, as the leave-last-out test history includes the
validation item. An interaction is a user's first click, long click or save of a pin
(``models.leave_last_out.first_interactions``), so a positive is a pin the user had not engaged with
before: history pins are excluded from retrieval and can never be positives. A model retrieves its
top ``k`` of all remaining pins; recall@k = |top k & positives| / min(k, |positives|), averaged
over the users with at least one history pin and one positive in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.leave_last_out import INTERACTIONS, STAGES, _check_stage, first_interactions

if TYPE_CHECKING:  # only the type: models/ stays free of corkboard at run time
    from core.world import World

K = 100
DAY_S = 86_400.0

Scorer = Callable[[np.ndarray, str], np.ndarray]


@dataclass(frozen=True)
class AllActionSplit:
    """Users and items by dense index; per-user lists are row-aligned with ``user_ids``.

    ``train[u]`` / ``train_times[u]``: user u's interactions before the validation cut-off, oldest
    first (all a model may learn from, with ``item_category``, the catalogue's label per item). ``histories[stage][u]`` / ``history_times_by_stage`` are the
    interactions before that stage's cut-off; ``positives[stage][u]`` the pins first engaged in its
    window. ``cutoffs`` are unix seconds; ``window_s`` is the window's length.
    """

    n_users: int
    n_items: int
    item_ids: np.ndarray
    item_category: np.ndarray
    user_ids: np.ndarray
    cutoffs: dict[str, float]
    window_s: float
    train: list[np.ndarray]
    train_times: list[np.ndarray]
    histories: dict[str, list[np.ndarray]]
    history_times_by_stage: dict[str, list[np.ndarray]]
    positives: dict[str, list[np.ndarray]]

    def history(self, user: int, stage: str) -> np.ndarray:
        """Items user ``user`` engaged with before ``stage``'s cut-off, oldest first."""
        return self.histories[_check_stage(stage)][user]

    def history_times(self, user: int, stage: str) -> np.ndarray:
        """Unix seconds of ``history(user, stage)``, row-aligned with it."""
        return self.history_times_by_stage[_check_stage(stage)][user]

    def evaluated_users(self, stage: str) -> np.ndarray:
        """Users with at least one history pin and one positive in ``stage``'s window."""
        _check_stage(stage)
        return np.array(
            [u for u in range(self.n_users) if len(self.histories[stage][u]) and len(self.positives[stage][u])],
            dtype=np.int64,
        )


def all_action_split(
    item_ids: np.ndarray,
    item_category: np.ndarray,
    interactions: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    test_cutoff: float,
    window_s: float,
) -> AllActionSplit:
    """The split of ``interactions`` = (user ids, pin ids, unix seconds), row i saying that a user
    first engaged a pin (sorted ``item_ids``, labelled ``item_category``) at a time: validation window [test_cutoff - window_s, test_cutoff), test window [test_cutoff, test_cutoff +
    window_s). Users are those with an interaction before the test window's end."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s} s")
    user_ids, pin_ids, times_s = interactions
    item_ids = np.asarray(item_ids, dtype=np.int64)
    item = np.searchsorted(item_ids, pin_ids).clip(0, max(len(item_ids) - 1, 0))
    if len(pin_ids) and (item_ids[item] != pin_ids).any():
        raise ValueError("interactions name pins missing from the catalogue")
    cutoffs = {"validation": test_cutoff - window_s, "test": test_cutoff}
    kept = np.asarray(times_s) < test_cutoff + window_s
    users, item, times = np.asarray(user_ids)[kept], item[kept], np.asarray(times_s, dtype=np.float64)[kept]
    order = np.lexsort((item, times, users))
    users, item, times = users[order], item[order], times[order]
    dense_users, starts = np.unique(users, return_index=True)
    per_user = list(zip(np.split(item, starts[1:]), np.split(times, starts[1:]))) if len(users) else []

    def before(cutoff: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [i[t < cutoff] for i, t in per_user], [t[t < cutoff] for _, t in per_user]

    histories, history_times, positives = {}, {}, {}
    for stage in STAGES:
        histories[stage], history_times[stage] = before(cutoffs[stage])
        end = cutoffs[stage] + window_s
        positives[stage] = [np.unique(i[(t >= cutoffs[stage]) & (t < end)]) for i, t in per_user]
    return AllActionSplit(
        n_users=len(dense_users),
        n_items=len(item_ids),
        item_ids=item_ids,
        item_category=np.asarray(item_category),
        user_ids=dense_users,
        cutoffs=cutoffs,
        window_s=window_s,
        train=histories["validation"],
        train_times=history_times["validation"],
        histories=histories,
        history_times_by_stage=history_times,
        positives=positives,
    )


def split_world_by_time(world: World, window_days: float) -> AllActionSplit:
    """``all_action_split`` of ``world``'s interactions, the test window being the log's last
    ``window_days`` days (the log ends at its last event)."""
    pairs = first_interactions(world.events, INTERACTIONS)
    times = pairs["ns"].to_numpy() / 1e9
    if len(times) == 0:
        raise ValueError(f"no {'/'.join(INTERACTIONS)} events: nothing to evaluate")
    window_s = window_days * DAY_S
    pins = world.pins.sort_values("pin_id")
    return all_action_split(
        pins["pin_id"].to_numpy(dtype=np.int64),
        pins["category"].fillna("").to_numpy(dtype=str),
        (pairs["user_id"].to_numpy(), pairs["pin_id"].to_numpy(), times),
        test_cutoff=float(times.max()) + 1.0 - window_s,
        window_s=window_s,
    )


def log_impressions(world: World, split: AllActionSplit) -> np.ndarray:
    """``[n_items, 1]`` float32: log(1 + each pin's impressions before ``split``'s validation
    cut-off), scaled to [0, 1]; what a model may learn of a pin's reach (shown pins follow
    popularity, and there are many more impressions than engagements)."""
    shown = world.events.loc[world.events["action"] == "impression", ["pin_id", "ts"]].dropna()
    before = shown["ts"].astype("int64").to_numpy() / 1e9 < split.cutoffs["validation"]
    pins = shown["pin_id"].to_numpy(dtype=np.int64)[before]
    item = np.searchsorted(split.item_ids, pins)
    known = item < split.n_items
    known[known] = split.item_ids[item[known]] == pins[known]
    logs = np.log1p(np.bincount(item[known], minlength=split.n_items).astype(np.float32))
    return (logs / max(float(logs.max()), 1.0))[:, None]


def top_k_items(
    scores: np.ndarray, exclude: list[np.ndarray], k: int = K, positives: list[np.ndarray] | None = None
) -> np.ndarray:
    """Per row, the ``k`` highest-scoring items not in that row's ``exclude``, best first. Among equal
    scores the row's ``positives`` come last (ties count against the model, as in the leave-last-out
    protocol), then the lower item index first. NaN scores are refused."""
    scores = np.array(scores, dtype=np.float64)  # a copy: exclusion writes -inf into it
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    rows = np.repeat(np.arange(len(scores)), [len(items) for items in exclude])
    scores[rows, np.concatenate([np.empty(0, np.int64), *exclude]).astype(np.int64)] = -np.inf
    k = min(k, scores.shape[1])
    # A stable sort of the k + ties candidates only: argpartition alone breaks ties arbitrarily.
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    top = np.empty((len(scores), k), dtype=np.int64)
    for row in range(len(scores)):
        candidates = np.flatnonzero(scores[row] >= kth[row])
        last = np.zeros(len(candidates), dtype=bool) if positives is None else np.isin(candidates, positives[row])
        top[row] = candidates[np.lexsort((last, -scores[row, candidates]))[:k]]
    return top


def recall_at_k(top: np.ndarray, positives: list[np.ndarray]) -> np.ndarray:
    """Per row, |top & positives| / min(k, |positives|), k = ``top.shape[1]``; rows need a positive."""
    k = top.shape[1]
    if any(len(items) == 0 for items in positives):
        raise ValueError("every row needs at least one positive")
    return np.array([np.isin(row, items).sum() / min(k, len(items)) for row, items in zip(top, positives)])


def all_action_recall(
    scores: Scorer, split: AllActionSplit, stage: str, *, k: int = K, users: np.ndarray | None = None, batch_size: int = 256
) -> float:
    """Mean recall@k of ``scores(users, stage)`` (``[len(users), n_items]``) over ``users`` (default:
    ``split.evaluated_users(stage)``), history pins excluded."""
    users = split.evaluated_users(stage) if users is None else np.asarray(users, dtype=np.int64)
    if len(users) == 0:
        raise ValueError(f"no user has both a history and a positive in the {stage} window")
    recalls = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scored = scores(batch, stage)
        if scored.shape != (len(batch), split.n_items):
            raise ValueError(f"scores of shape {scored.shape}, not {(len(batch), split.n_items)}")
        positives = [split.positives[stage][int(u)] for u in batch]
        top = top_k_items(scored, [split.history(int(u), stage) for u in batch], k, positives)
        recalls.append(recall_at_k(top, positives))
    return float(np.concatenate(recalls).mean())


def sample_users(split: AllActionSplit, stage: str, limit: int | None, seed: int = 0) -> np.ndarray:
    """``split.evaluated_users(stage)``, or a fixed random ``limit`` of them, in index order."""
    users = split.evaluated_users(stage)
    if limit is None or len(users) <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))



def category_one_hot(item_category: np.ndarray) -> np.ndarray:
    """``[n_items, n_labels]`` float32 one-hot of each item's label (labels in sorted order)."""
    labels, codes = np.unique(np.asarray(item_category), return_inverse=True)
    return np.eye(len(labels), dtype=np.float32)[codes.reshape(-1)]
