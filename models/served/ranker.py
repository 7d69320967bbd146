"""The multi-task ranker's forward pass in numpy, from ``models.ranker.save_ranker``'s file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from models.checkpoint import CheckpointError, load_checkpoint
from models.ranker_config import CHECKPOINT_KIND, RankerConfig
from models.ranker_features import FeatureEncoder
from models.served.layers import Weights, float32_weights, linear, relu

# nn.Sequential numbers its modules: each hidden layer is Linear, ReLU, Dropout.
_MODULES_PER_LAYER = 3


@dataclass(frozen=True)
class ServedRanker:
    """``MultiTaskRanker`` in eval mode: its config and weights, and the same ``predict``."""

    config: RankerConfig
    weights: Weights

    @classmethod
    def load(cls, path: Path) -> tuple[ServedRanker, FeatureEncoder]:
        """The ranker and its feature encoder; ``CheckpointError`` when the file is unusable."""
        config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=RankerConfig, as_numpy=True)
        try:
            weights = float32_weights(state["model"])
            encoder = FeatureEncoder.from_state(state["encoder"])
            names = [f"trunk.{_MODULES_PER_LAYER * layer}" for layer in range(len(config.hidden))] + ["heads"]
            widths = [config.input_dim, *config.hidden, len(config.heads)]
            for name, (width_in, width_out) in zip(names, zip(widths, widths[1:])):
                if weights[f"{name}.weight"].shape != (width_out, width_in):
                    raise ValueError(f"{name} has shape {weights[f'{name}.weight'].shape}")
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
        if encoder.input_dim != config.input_dim:
            raise CheckpointError(
                f"checkpoint {path} encoder width {encoder.input_dim} != input_dim {config.input_dim}: "
                "saved by another layout of the ranker's input; rematerialize the ranker asset"
            )
        return cls(config, weights), encoder

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``[n, len(config.heads)]`` float32, columns in ``config.heads`` order."""
        hidden = np.ascontiguousarray(x, dtype=np.float32)
        for layer in range(len(self.config.hidden)):
            hidden = relu(linear(hidden, self.weights, f"trunk.{_MODULES_PER_LAYER * layer}"))
        return expit(linear(hidden, self.weights, "heads")).astype(np.float32)

    def predict_heads(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``predict`` as one probability vector per head name, the input of the utility blend."""
        probs = self.predict(x)
        return {name: probs[:, column] for column, name in enumerate(self.config.heads)}
