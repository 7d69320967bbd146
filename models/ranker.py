"""Multi-task ranker: one shared MLP trunk, one logit per action (DESIGN.md section 1, ranking)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.metrics import Calibration, auc, calibration
from models.ranker_config import CHECKPOINT_KIND, RankerConfig
from models.ranker_features import FeatureEncoder
from models.training import TrainingHistory, descend, fit_epochs

class MultiTaskRanker(nn.Module):
    """Shared MLP trunk feeding one linear head per action."""

    def __init__(self, config: RankerConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.input_dim
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        # One Linear with an output per action is the per-action heads fused into one matmul.
        self.heads = nn.Linear(width, len(config.heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, len(config.heads)]``, columns in ``config.heads`` order."""
        return self.heads(self.trunk(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``[n, len(config.heads)]`` float32, in eval mode without autograd."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
                return torch.sigmoid(self(inputs)).numpy()
        finally:
            self.train(was_training)


@dataclass
class TrainingReport:
    """The training loss per epoch (every epoch runs; the last weights stay) and per-head validation quality."""

    history: TrainingHistory
    valid_auc: dict[str, float]
    valid_calibration: dict[str, Calibration]
    n_train: int
    n_valid: int


def train_ranker(
    features: np.ndarray,
    labels: np.ndarray,
    config: RankerConfig,
    *,
    valid_fraction: float = 0.1,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[MultiTaskRanker, TrainingReport]:
    """Train with Adam on binary cross-entropy summed over heads; deterministic for a seed.

    ``labels`` is ``[n, len(config.heads)]`` in {0, 1}. A random ``valid_fraction`` of rows
    is held out for the report's AUC and calibration. ``on_epoch(epoch, loss)`` is called
    after each epoch with the 1-based epoch and its mean training loss.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels = np.ascontiguousarray(labels, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != config.input_dim:
        raise ValueError(f"features have shape {features.shape}, expected [n, {config.input_dim}]")
    if labels.shape != (features.shape[0], len(config.heads)):
        raise ValueError(
            f"labels have shape {labels.shape}, expected [{features.shape[0]}, {len(config.heads)}]"
        )
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")

    order = np.random.default_rng(config.seed).permutation(len(features))
    n_valid = round(len(features) * valid_fraction)
    valid, train = order[:n_valid], order[n_valid:]
    if len(train) == 0:
        raise ValueError("no training rows left after the validation split")
    train_x, train_y = torch.from_numpy(features[train]), torch.from_numpy(labels[train])

    # A private RNG stream makes runs repeatable without disturbing the caller's torch seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = MultiTaskRanker(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")

        def train_epoch(epoch: int) -> float:
            total = 0.0
            for batch in torch.randperm(len(train)).split(config.batch_size):
                loss = loss_fn(model(train_x[batch]), train_y[batch]).sum(dim=1).mean()
                total += descend(loss, [optimizer]) * len(batch)
            return total / len(train)

        history = fit_epochs(
            model,
            train_epoch,
            epochs=config.epochs,
            on_epoch=None if on_epoch is None else lambda epoch, loss, _: on_epoch(epoch, loss),
        )

    valid_auc: dict[str, float] = {}
    valid_calibration: dict[str, Calibration] = {}
    if n_valid:
        probs = model.predict(features[valid])
        for column, name in enumerate(config.heads):
            valid_auc[name] = auc(labels[valid, column], probs[:, column])
            valid_calibration[name] = calibration(labels[valid, column], probs[:, column])
    report = TrainingReport(history, valid_auc, valid_calibration, len(train), n_valid)
    return model, report


def save_ranker(path: Path, model: MultiTaskRanker, encoder: FeatureEncoder) -> None:
    """Write the ranker's config, weights and feature encoder to one checkpoint file."""
    if encoder.input_dim != model.config.input_dim:
        raise ValueError(
            f"encoder width {encoder.input_dim} != ranker input_dim {model.config.input_dim}"
        )
    state = {"model": dict(model.state_dict()), "encoder": encoder.to_state()}
    save_checkpoint(path, kind=CHECKPOINT_KIND, config=model.config, state=state)


def load_ranker(path: Path) -> tuple[MultiTaskRanker, FeatureEncoder]:
    """Rebuild the ranker (in eval mode) and its encoder from ``save_ranker``'s file."""
    config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=RankerConfig)
    model = MultiTaskRanker(config)
    try:
        model.load_state_dict(state["model"])
        encoder = FeatureEncoder.from_state(state["encoder"])
    except (KeyError, RuntimeError, TypeError) as error:
        raise CheckpointError(
            f"checkpoint {path} state does not fit its config: {error}"
        ) from error
    if encoder.input_dim != config.input_dim:
        raise CheckpointError(
            f"checkpoint {path} encoder width {encoder.input_dim} != input_dim {config.input_dim}: "
            "saved by another layout of the ranker's input; rematerialize the ranker asset"
        )
    return model.eval(), encoder
