"""The two-tower's user tower in numpy, from ``TwoTowerRecommender.save``'s file: a user's vector
on request from their latest engagements, without the pin tower, DGL or torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.checkpoint import CheckpointError, load_checkpoint
from models.pinnerformer_config import gap_buckets
from models.served.layers import Weights, float32_weights, layer_norm, pre_norm_encoder_layer, unit_rows
from models.two_tower.config import CHECKPOINT_KIND, TwoTowerConfig

# What PinnerFormer holds only when it is built with item side inputs, which the user tower never is.
_ITEM_SIDE_INPUTS = ("item_features", "feature_projection.", "word_ids", "words.", "bias_projection.")


@dataclass(frozen=True)
class ServedUserTower:
    """The user tower in eval mode (``models.two_tower.user_tower.UserTower``) and the pin ids it
    knows (sorted; an action's item index is its pin's position)."""

    config: TwoTowerConfig
    sequence: Weights  # the transformer's weights, named as in ``PinnerFormer``
    feature_tables: tuple[np.ndarray, ...]  # one [values + 1, dim] table per user feature; row 0: unknown
    pin_ids: np.ndarray

    @classmethod
    def load(cls, path: Path) -> ServedUserTower:
        """The user side of the checkpoint; ``CheckpointError`` when it is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=TwoTowerConfig, as_numpy=True)
        try:
            sequence = float32_weights(state["model"], prefix="sequence.")
            features = float32_weights(state["model"], prefix="user_features.")
            tables = tuple(features[f"{column}.weight"] for column in range(len(config.user_feature_names)))
            pin_ids = np.array(state["item_ids"], dtype=np.int64)  # a copy: a view would keep the whole file mapped
            n_items, dim = sequence["items.weight"].shape[0] - 1, sequence["items.weight"].shape[1]
            side_inputs = [name for name in sequence if name.startswith(_ITEM_SIDE_INPUTS)]
            if side_inputs or dim != config.dim or n_items != len(pin_ids) or n_items != int(state["n_items"]):
                raise ValueError(f"item table {sequence['items.weight'].shape} for {len(pin_ids)} pins, {side_inputs}")
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
        return cls(config, sequence, tables, pin_ids)

    def item_indices(self, pin_ids: np.ndarray) -> np.ndarray:
        """The item index of each pin id, -1 for a pin the model does not know."""
        rows = np.searchsorted(self.pin_ids, pin_ids).clip(0, max(len(self.pin_ids) - 1, 0))
        return np.where(self.pin_ids[rows] == pin_ids, rows, -1) if len(self.pin_ids) else np.full(len(pin_ids), -1)

    def user_vector(self, pin_ids: np.ndarray, times: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The unit vector float32 ``[dim]`` of a user with these engagements (pin ids and unix
        seconds, oldest first; pins the model does not know are skipped; the last ``max_len``
        count) and feature ``codes`` (their ``user_feature_codes`` row)."""
        items = self.item_indices(np.asarray(pin_ids, dtype=np.int64))
        known = items >= 0
        keep = self.config.max_len  # the gap of the first kept action is to the one before it
        items, gaps = items[known][-keep:], gap_buckets(np.asarray(times)[known])[-keep:]
        vector = np.zeros(self.config.dim, dtype=np.float32)
        for table, code in zip(self.feature_tables, np.asarray(codes, dtype=np.int64)):
            vector += table[code]
        if len(items):
            vector += self._sequence_output(items, gaps)
        return unit_rows(vector)

    def _sequence_output(self, items: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """PinnerFormer's unit output at the last of these actions (item indices, gap buckets)."""
        weights = self.sequence
        positions = weights["positions.weight"][: len(items)]
        actions = weights["items.weight"][items] + weights["gaps.weight"][gaps] + positions
        if "kinds.weight" in weights:
            actions = actions + weights["kinds.weight"][0]  # served engagements count as clicks
        # The last layer computes the last position alone: it is all that is read.
        for layer in range(self.config.layers):
            last = 1 if layer == self.config.layers - 1 else None
            actions = pre_norm_encoder_layer(actions, weights, f"encoder.layers.{layer}", self.config.heads, last)
        return unit_rows(layer_norm(actions[-1], weights, "norm"))
