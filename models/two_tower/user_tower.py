"""The two-tower's user tower on its own: PinnerFormer's transformer over the user's actions plus
a learned vector per categorical feature value, and the encoding of those features. Free of DGL,
so that the service can embed a user on request from the latest engagements without loading the
pin tower."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.checkpoint import CheckpointError, load_checkpoint
from models.pinnerformer import PinnerFormer, PinnerFormerRecommender, gap_buckets
from models.two_tower.config import CHECKPOINT_KIND, TwoTowerConfig


class UserTower(nn.Module):
    """Unit user vectors of size ``config.dim`` from action sequences and feature codes."""

    def __init__(self, config: TwoTowerConfig, n_items: int) -> None:
        super().__init__()
        self.config = config
        self.n_items = n_items
        self.sequence = PinnerFormer(config.user_config, n_items)
        # Row 0 of each table is "unknown" and stays zero.
        self.user_features = nn.ModuleList(
            nn.Embedding(len(values) + 1, config.dim, padding_idx=0) for values in config.user_feature_values
        )
        for table in self.user_features:
            nn.init.normal_(table.weight, std=0.1)
            table.weight.data[0].zero_()

    def user_feature_vectors(self, codes: Tensor) -> Tensor:
        """``[b, dim]``: the sum of each user's feature vectors; codes ``[b, n_features]``."""
        total = torch.zeros(codes.shape[0], self.config.dim)
        for column, table in enumerate(self.user_features):
            total = total + table(codes[:, column])
        return total

    def users(self, items: Tensor, gaps: Tensor, codes: Tensor) -> Tensor:
        """Unit user vectors ``[b, L, dim]`` at each position of right-padded action sequences."""
        sequence = self.sequence(items, gaps)
        return F.normalize(sequence + self.user_feature_vectors(codes)[:, None, :], dim=-1)

    def embed(self, items: Sequence[np.ndarray], times: Sequence[np.ndarray], codes: np.ndarray | None) -> np.ndarray:
        """Unit user vectors float32 ``[len(items), dim]`` from each user's item indices and
        action times (unix seconds) in time order (only the last ``max_len`` count) and their
        ``user_feature_codes`` rows; a user with neither actions nor known features gets zeros."""
        sequence = PinnerFormerRecommender(self.config.user_config)
        sequence.model = self.sequence  # its batched inference over the transformer
        vectors = sequence.embed_users(items, times)
        if codes is not None and len(self.user_features):
            with torch.inference_mode():
                vectors = vectors + self.user_feature_vectors(torch.as_tensor(codes, dtype=torch.int64)).numpy()
        return _unit_rows(vectors)

    def embed_one(self, items: np.ndarray, times: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """One user's unit vector float32 ``[dim]`` (see ``embed``), in one forward pass without
        padding or batching: the cost of a request. ``codes`` is the user's ``[n_features]`` row."""
        keep = self.config.max_len
        items, gaps = np.asarray(items, dtype=np.int64)[-keep:], gap_buckets(times)[-keep:]
        with torch.inference_mode():
            vector = self.user_feature_vectors(torch.as_tensor(codes, dtype=torch.int64)[None])[0]
            if len(items):
                sequence = self.sequence(torch.from_numpy(items)[None], torch.from_numpy(gaps)[None])
                vector = vector + sequence[0, -1]
        return _unit_rows(vector.numpy()[None])[0]


def user_feature_codes(frame: pd.DataFrame | None, config: TwoTowerConfig, n_users: int) -> np.ndarray:
    """``[n_users, n_features]`` int64 codes of ``frame``'s rows (one per user, columns
    ``config.user_feature_names``) in the config's vocabularies; 0 for unknown or missing."""
    codes = np.zeros((n_users, len(config.user_feature_names)), dtype=np.int64)
    if frame is None or not config.user_feature_names:
        return codes
    if len(frame) != n_users:
        raise ValueError(f"user features have {len(frame)} rows for {n_users} users")
    for column, (name, values) in enumerate(zip(config.user_feature_names, config.user_feature_values)):
        vocabulary = {value: code for code, value in enumerate(values, start=1)}
        codes[:, column] = [vocabulary.get(str(value), 0) for value in frame[name].tolist()]
    return codes


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class ServedUserTower:
    """What serving reads from a two-tower checkpoint: the user tower (in eval mode) and the pin
    ids it knows (sorted; an action's item index is its pin's position)."""

    tower: UserTower
    pin_ids: np.ndarray

    @classmethod
    def load(cls, path: Path) -> ServedUserTower:
        """The user tower of ``TwoTowerRecommender.save``'s file; ``CheckpointError`` when it is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=TwoTowerConfig)
        user_side = ("sequence.", "user_features.")
        try:
            tower = UserTower(config, int(state["n_items"]))
            tower.load_state_dict({k: v for k, v in state["model"].items() if k.startswith(user_side)})
            pin_ids = np.array(state["item_ids"])  # a copy: a view would keep the whole file mapped
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
        return cls(tower.eval(), pin_ids)

    def item_indices(self, pin_ids: np.ndarray) -> np.ndarray:
        """The item index of each pin id, -1 for a pin the model does not know."""
        rows = np.searchsorted(self.pin_ids, pin_ids).clip(0, max(len(self.pin_ids) - 1, 0))
        return np.where(self.pin_ids[rows] == pin_ids, rows, -1) if len(self.pin_ids) else np.full(len(pin_ids), -1)

    def user_vector(self, pin_ids: np.ndarray, times: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The unit vector of a user with these engagements (pin ids and unix seconds, oldest
        first; pins the model does not know are skipped) and feature ``codes``."""
        items = self.item_indices(np.asarray(pin_ids, dtype=np.int64))
        known = items >= 0
        return self.tower.embed_one(items[known], np.asarray(times)[known], codes)
