"""The offline evaluation protocol of issue 3: a leave-last-out split, full ranking, recall@K and NDCG@10.

Per user, interactions are ordered by time (ties by item id); the last is the test item, the one
before it the validation item, the rest is training. Every model ranks ALL items for each user with
the user's history excluded, and is scored on the single held-out item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # only the types: models/ stays free of corkboard at run time, and this module of torch
    from core.world import World
    from models.data_parallel import Shard

INTERACTIONS = ("click", "long_click", "save")  # a MovieLens rating is one click (+ a save at the same time)
MIN_INTERACTIONS = 3  # one for training, one for validation, one for test
STAGES = ("validation", "test")
KS = (10, 50, 100)
# Early stopping reads at most this many users' validation items: each one scores every item, so on
# the large world (50,397 users, 1M pins) the whole set took 177 s, timed apart; a PinSAGE epoch took 251.
EARLY_STOPPING_USERS = 10_000
# A world asset's held-out figures read at most this many users' test items: on large every one of
# the 50,397 users took 377 s of a one-epoch two-tower step's 727 s (py-spy; the co-engagement
# baseline's figures included), and PinSAGE's step measures the same way.
HOLDOUT_USERS = 20_000
# A model's scores are asked for this many bytes of users at a time, at most 256 users: 67 users on a
# catalogue of 1M pins (256 users' scores took 1 GiB there, the peak of each validation).
SCORE_BATCH_BYTES = 2**28
# target_ranks compares this many rows with their targets at a time: a block's comparisons stay in
# cache (256 rows x 1M items: 0.33 s a batch whole, 0.23 s by 16 rows).
RANKED_ROWS_PER_BLOCK = 16
NDCG_K = 10


@dataclass(frozen=True)
class EvaluationSplit:
    """Users and items by dense index; lists are per user (or per board), arrays are row-aligned.

    ``train[u]`` holds user u's training items in time order and ``train_times[u]`` their unix
    seconds; ``validation[u]`` / ``test[u]`` are the held-out items (-1 where hidden, see
    ``without_test``); ``board_items`` is the pin-board graph with held-out edges removed.
    ``train_actions[u]`` / ``validation_actions`` (optional; ``split_world`` fills them) give each
    interaction's strongest action before the user's next one, as an index into the split's
    interaction actions (``INTERACTIONS``: 0 click, 1 long click, 2 save).
    """

    n_users: int
    n_items: int
    train: list[np.ndarray]
    train_times: list[np.ndarray]
    validation: np.ndarray
    test: np.ndarray
    item_text: list[str]
    item_category: np.ndarray
    board_items: list[np.ndarray]
    item_ids: np.ndarray
    user_ids: np.ndarray
    validation_times: np.ndarray
    train_actions: list[np.ndarray] | None = None
    validation_actions: np.ndarray | None = None

    def history(self, user: int, stage: str) -> np.ndarray:
        """Items the user is known to have engaged with when predicting ``stage``, oldest first."""
        if _check_stage(stage) == "validation":
            return self.train[user]
        return np.append(self.train[user], self.validation[user])

    def history_times(self, user: int, stage: str) -> np.ndarray:
        """Unix seconds of ``history(user, stage)``, row-aligned with it."""
        if _check_stage(stage) == "validation":
            return self.train_times[user]
        return np.append(self.train_times[user], self.validation_times[user])

    def history_actions(self, user: int, stage: str) -> np.ndarray:
        """The strongest action of each of ``history(user, stage)``'s interactions, row-aligned with it."""
        if self.train_actions is None or self.validation_actions is None:
            raise ValueError("this split carries no interaction actions")
        if _check_stage(stage) == "validation":
            return self.train_actions[user]
        return np.append(self.train_actions[user], self.validation_actions[user])

    def target(self, stage: str) -> np.ndarray:
        """The held-out item per user for ``stage``."""
        return self.validation if _check_stage(stage) == "validation" else self.test

    def without_test(self) -> EvaluationSplit:
        """The split a model may see: test items replaced by -1."""
        return replace(self, test=np.full(self.n_users, -1, dtype=np.int64))


class Recommender(Protocol):
    """A model under evaluation: fit on a split (test hidden), then score every item for users."""

    name: str

    def fit(self, split: EvaluationSplit) -> None: ...

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        """``[len(users), n_items]``, higher is better; ``stage`` picks the history to condition on."""
        ...


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
    return stage


def first_interactions(events: pd.DataFrame, actions: tuple[str, ...] = INTERACTIONS) -> pd.DataFrame:
    """One row per (user_id, pin_id) engaged through ``actions``, at its first time (``ns``, epoch ns)."""
    chosen = events.loc[events["action"].isin(actions), ["user_id", "pin_id", "ts"]]
    frame = pd.DataFrame(
        {
            "user_id": chosen["user_id"].to_numpy(dtype=np.int64),
            "pin_id": chosen["pin_id"].to_numpy(dtype=np.int64),
            "ns": chosen["ts"].astype("int64").to_numpy(),
        }
    )
    return frame.groupby(["user_id", "pin_id"], as_index=False)["ns"].min()


def strongest_actions(
    events: pd.DataFrame, interactions: pd.DataFrame, next_ns: np.ndarray, actions: tuple[str, ...] = INTERACTIONS
) -> np.ndarray:
    """Per row of ``interactions`` (``first_interactions``' frame), the index in ``actions`` of the
    strongest of the pair's ``actions`` (later in ``actions`` is stronger) at its first time or
    before ``next_ns`` (the user's next interaction; what a model reading the history then knows)."""
    chosen = events.loc[events["action"].isin(actions), ["user_id", "pin_id", "action", "ts"]]
    frame = pd.DataFrame(
        {
            "user_id": chosen["user_id"].to_numpy(dtype=np.int64),
            "pin_id": chosen["pin_id"].to_numpy(dtype=np.int64),
            "strength": pd.Categorical(chosen["action"].astype(str), categories=list(actions)).codes.astype(np.int64),
            "event_ns": chosen["ts"].astype("int64").to_numpy(),
        }
    )
    pairs = interactions[["user_id", "pin_id", "ns"]].assign(row=np.arange(len(interactions)), next_ns=next_ns)
    joined = pairs.merge(frame, on=["user_id", "pin_id"])
    known = (joined["event_ns"] <= joined["ns"]) | (joined["event_ns"] < joined["next_ns"])
    strongest = joined.loc[known].groupby("row")["strength"].max()
    return strongest.reindex(np.arange(len(interactions)), fill_value=0).to_numpy(dtype=np.int64)


def _item_index(item_ids: np.ndarray, pin_ids: np.ndarray) -> np.ndarray:
    """Dense index of each pin id; ValueError if one is not in the catalogue."""
    index = np.searchsorted(item_ids, pin_ids).clip(0, max(len(item_ids) - 1, 0))
    unknown = item_ids[index] != pin_ids if len(item_ids) else np.ones(len(pin_ids), dtype=bool)
    if unknown.any():
        raise ValueError(f"{int(unknown.sum())} rows name pins missing from the catalogue")
    return index


def _board_items(world: World, item_ids: np.ndarray, user_ids: np.ndarray, held_out: np.ndarray) -> list[np.ndarray]:
    """Items per board (board id order), without edges from an owner to their own held-out items."""
    edges = world.board_pins.merge(world.boards[["board_id", "user_id"]], on="board_id")
    pins = edges["pin_id"].to_numpy(dtype=np.int64)
    owners = edges["user_id"].to_numpy(dtype=np.int64)
    owner_row = np.searchsorted(user_ids, owners).clip(0, len(user_ids) - 1)
    evaluated = user_ids[owner_row] == owners
    item = _item_index(item_ids, pins)
    leaks = evaluated & np.any(held_out[owner_row] == item[:, None], axis=1)
    boards = edges["board_id"].to_numpy(dtype=np.int64)[~leaks]
    item = item[~leaks]
    order = np.argsort(boards, kind="stable")  # keeps each board's save order
    _, starts = np.unique(boards[order], return_index=True)
    return np.split(item[order], starts[1:]) if len(order) else []


def split_world(world: World, interaction_actions: tuple[str, ...] = INTERACTIONS) -> EvaluationSplit:
    """The leave-last-out split of ``world`` (users with fewer than 3 interactions are dropped).

    An interaction is a user's first event with a pin among ``interaction_actions``; for MovieLens
    that is exactly one per rating. Board edges joining a user to their own validation or test
    item are removed, so the graph does not reveal held-out items.
    """
    item_ids = np.sort(world.pins["pin_id"].to_numpy(dtype=np.int64))
    pairs = first_interactions(world.events, interaction_actions)
    user = pairs["user_id"].to_numpy()
    item = _item_index(item_ids, pairs["pin_id"].to_numpy())
    ns = pairs["ns"].to_numpy()
    order = np.lexsort((item, ns, user))
    user, item, ns = user[order], item[order], ns[order]
    last = np.append(user[1:] != user[:-1], True)  # a user's last interaction has no next one
    next_ns = np.where(last, np.iinfo(np.int64).max, np.append(ns[1:], 0))
    next_by_pair = np.empty(len(order), dtype=np.int64)
    next_by_pair[order] = next_ns
    strength = strongest_actions(world.events, pairs, next_by_pair, interaction_actions)[order]
    user_ids, starts, counts = np.unique(user, return_index=True, return_counts=True)
    kept = counts >= MIN_INTERACTIONS
    if not kept.any():
        raise ValueError(f"no user has {MIN_INTERACTIONS} interactions among {interaction_actions}: nothing to evaluate")
    user_ids, starts, ends = user_ids[kept], starts[kept], (starts + counts)[kept]
    validation, test = item[ends - 2], item[ends - 1]
    pins = world.pins.set_index("pin_id").loc[item_ids]
    return EvaluationSplit(
        n_users=len(user_ids),
        n_items=len(item_ids),
        train=[item[s:e] for s, e in zip(starts, ends - 2)],
        train_times=[ns[s:e] / 1e9 for s, e in zip(starts, ends - 2)],
        validation=validation,
        test=test,
        item_text=(pins["title"].fillna("") + ". " + pins["description"].fillna("")).tolist(),
        item_category=pins["category"].fillna("").to_numpy(dtype=str),
        board_items=_board_items(world, item_ids, user_ids, np.stack([validation, test], axis=1)),
        item_ids=item_ids,
        user_ids=user_ids,
        validation_times=ns[ends - 2] / 1e9,
        train_actions=[strength[s:e] for s, e in zip(starts, ends - 2)],
        validation_actions=strength[ends - 2],
    )


def target_ranks(scores: np.ndarray, target: np.ndarray, exclude: list[np.ndarray]) -> np.ndarray:
    """1-based rank of each row's target among all items not in that row's ``exclude``.

    Ties count against the target (pessimistic): rank = 1 + the number of other non-excluded items
    scoring at least as high. The target itself is never excluded. NaN scores are refused.
    ``scores`` is read, never copied: the excluded items are counted and taken back out.
    """
    scores = np.asarray(scores)
    rows = np.arange(len(target))
    target_score = scores[rows, target]
    at_least = np.empty(len(target), dtype=np.int64)
    for start in range(0, len(target), RANKED_ROWS_PER_BLOCK):
        part = slice(start, start + RANKED_ROWS_PER_BLOCK)
        block = scores[part]
        # A row's sum is NaN when the row holds a NaN (or both infinities): only then is it searched.
        with np.errstate(invalid="ignore"):
            sums = block.sum(axis=1)
        if np.isnan(sums).any() and np.isnan(block).any():
            raise ValueError("scores contain NaN")
        at_least[part] = np.count_nonzero(block >= target_score[part, None], axis=1)  # the target counts itself
    n_items = scores.shape[1]
    row = np.repeat(rows, [len(items) for items in exclude])
    item = np.concatenate([np.empty(0, dtype=np.int64), *exclude]).astype(np.int64)
    pairs = np.unique(row * n_items + item)  # an item excluded twice is taken out once
    row, item = pairs // n_items, pairs % n_items
    counted = (item != target[row]) & (scores[row, item] >= target_score[row])
    return at_least - np.bincount(row[counted], minlength=len(target))


def metrics_from_ranks(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """recall@K (hit at K, one held-out item) per K and ndcg@10 = 1/log2(rank+1), averaged over users."""
    ranks = np.asarray(ranks, dtype=np.float64)
    metrics = {f"recall@{k}": float(np.mean(ranks <= k)) for k in ks}
    gains = np.where(ranks <= NDCG_K, 1.0 / np.log2(ranks + 1.0), 0.0)
    metrics[f"ndcg@{NDCG_K}"] = float(np.mean(gains))
    return metrics


def rank_metrics(
    scores: np.ndarray,
    target: np.ndarray,
    exclude: list[np.ndarray],
    ks: tuple[int, ...] = KS,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Metrics of a ``[n_users, n_items]`` score matrix, ranked ``batch_size`` users at a time."""
    ranks = [
        target_ranks(scores[start : start + batch_size], target[start : start + batch_size], exclude[start : start + batch_size])
        for start in range(0, len(target), batch_size)
    ]
    return metrics_from_ranks(np.concatenate([np.empty(0), *ranks]), ks)


def evaluate_recommender(
    model: Recommender,
    split: EvaluationSplit,
    stage: str,
    ks: tuple[int, ...] = KS,
    batch_size: int | None = None,
    users: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of a fitted ``model`` on ``stage`` over ``users`` (indices; default every user),
    asking it for ``batch_size`` users' scores at a time (default ``scored_users_per_batch``)."""
    return metrics_from_ranks(recommender_ranks(model, split, stage, batch_size, users), ks)


def recommender_ranks(
    model: Recommender,
    split: EvaluationSplit,
    stage: str,
    batch_size: int | None = None,
    users: np.ndarray | None = None,
) -> np.ndarray:
    """``target_ranks`` of ``stage``'s item for each of ``users`` (indices; default every user) under
    a fitted ``model``, asking it for ``batch_size`` users' scores at a time (default
    ``scored_users_per_batch``)."""
    target = split.target(stage)
    if (target < 0).any():
        raise ValueError(f"this split hides its {stage} items")
    evaluated = np.arange(split.n_users) if users is None else np.asarray(users, dtype=np.int64)
    if len(evaluated) == 0 or evaluated.min() < 0 or evaluated.max() >= split.n_users:
        raise ValueError(f"no users to evaluate, or indices outside 0..{split.n_users - 1}")
    batch_size = scored_users_per_batch(split.n_items) if batch_size is None else batch_size
    ranks = [
        _batch_ranks(model, split, stage, evaluated[start : start + batch_size], target)
        for start in range(0, len(evaluated), batch_size)
    ]
    return np.concatenate([np.empty(0), *ranks])


def scored_users_per_batch(n_items: int) -> int:
    """Users whose float32 scores over ``n_items`` fit ``SCORE_BATCH_BYTES``: at least 1, at most 256."""
    return max(1, min(256, SCORE_BATCH_BYTES // (4 * max(n_items, 1))))


def _batch_ranks(
    model: Recommender, split: EvaluationSplit, stage: str, batch: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """``target_ranks`` of one batch of users; its scores are let go on return, before the next
    batch's are computed (``scored_users_per_batch``)."""
    scores = model.scores(batch, stage)
    if scores.shape != (len(batch), split.n_items):
        raise ValueError(f"{model.name} returned scores of shape {scores.shape}, not {(len(batch), split.n_items)}")
    return target_ranks(scores, target[batch], [split.history(int(u), stage) for u in batch])


def user_sample(split: EvaluationSplit, limit: int) -> np.ndarray:
    """User indices: every user up to ``limit`` of them, else one fixed sample of ``limit`` (seed 0,
    in index order). Early stopping reads ``EARLY_STOPPING_USERS`` of them, a world asset's held-out
    figures ``HOLDOUT_USERS``; the evaluation protocol reads every user."""
    if split.n_users <= limit:
        return np.arange(split.n_users)
    return np.sort(np.random.default_rng(0).choice(split.n_users, size=limit, replace=False))


def early_stopping_recall(model: Recommender, split: EvaluationSplit, shard: Shard | None = None) -> float:
    """Validation recall@10 of ``model`` over ``EARLY_STOPPING_USERS`` users (``user_sample``): what the
    embedding models stop on.

    With a ``shard`` of several training processes (each calls this), each ranks its share of the
    users and their hits are summed across the processes: every one gets the figure of all users.
    """
    users = user_sample(split, EARLY_STOPPING_USERS)
    mine = users if shard is None else shard.share(users)
    ranks = recommender_ranks(model, split, "validation", users=mine) if len(mine) else np.empty(0)
    hits = float(np.count_nonzero(ranks <= 10))
    return (hits if shard is None else shard.total(hits)) / len(users)


class ChosenOnValidation:
    """Model choice on validation: fits every candidate, keeps the best by ``validation_score``
    (higher is better; by default the validation item's ``metric``).

    ``config`` is the chosen candidate's; the others are dropped after scoring.
    """

    def __init__(
        self,
        name: str,
        candidates: Sequence[Callable[[], Recommender]],
        metric: str = "ndcg@10",
        validation_score: Callable[[Recommender, Any], float] | None = None,
    ) -> None:
        if not candidates:
            raise ValueError(f"{name}: no candidates to choose from")
        self.name = name
        self.candidates = candidates
        self.validation_score = validation_score or (
            lambda model, split: evaluate_recommender(model, split, "validation")[metric]
        )
        self.chosen_score = -np.inf

    def fit(self, split: Any) -> None:
        """Fit each candidate on ``split`` and keep the best; ties keep the earlier candidate."""
        self.chosen_score = -np.inf
        for build in self.candidates:
            model = build()
            model.fit(split)
            value = self.validation_score(model, split)
            if value > self.chosen_score:
                self.chosen, self.chosen_score = model, value

    @property
    def config(self) -> Any:
        return getattr(self.chosen, "config", None)

    def scores(self, users: np.ndarray, stage: str) -> np.ndarray:
        return self.chosen.scores(users, stage)
