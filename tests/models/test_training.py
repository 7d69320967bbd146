"""The shared epoch loop and the training metadata it feeds."""

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from models.training import TrainingHistory, fit_epochs
from orchestration.training_metadata import loss_plot_png, training_metadata


def _scored_model(scores: list[float]) -> tuple[nn.Linear, list[float], Callable[[int], float], Callable[[], float]]:
    """A one-weight model whose weight records the epoch; validation returns ``scores`` in turn."""
    model = nn.Linear(1, 1, bias=False)
    calls: list[float] = []

    def train_epoch(epoch: int) -> float:
        with torch.no_grad():
            model.weight.fill_(epoch)
        return 1.0 / epoch

    def validate() -> float:
        calls.append(scores[len(calls)])
        return calls[-1]

    return model, calls, train_epoch, validate


def test_early_stopping_keeps_the_best_epochs_weights():
    model, calls, train_epoch, validate = _scored_model([0.1, 0.5, 0.4, 0.3, 0.9])
    history = fit_epochs(model, train_epoch, epochs=5, validate=validate, patience=2)
    assert history.best_epoch == 2
    assert len(history.train_loss) == 4  # epochs 3 and 4 did not improve: stopped before epoch 5
    assert model.weight.item() == 2.0
    assert history.validation == [0.1, 0.5, 0.4, 0.3]
    assert not model.training
    assert len(calls) == 4


def test_without_validation_every_epoch_runs_and_last_weights_stay():
    model, _, train_epoch, _ = _scored_model([])
    seen = []
    history = fit_epochs(model, train_epoch, epochs=3, on_epoch=lambda *args: seen.append(args))
    assert history.best_epoch == 3 and model.weight.item() == 3.0
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3]
    assert all(math.isnan(score) for _, _, score in seen)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="patience"):
        fit_epochs(nn.Linear(1, 1), lambda epoch: 0.0, epochs=1, patience=0)


def test_metadata_has_a_png_plot_and_the_figures():
    history = TrainingHistory(train_loss=[2.0, 1.5, 1.2], validation=[0.1, 0.2, 0.15], best_epoch=2, seconds=1.5)
    assert loss_plot_png(history, "model").startswith(b"\x89PNG")
    metadata = training_metadata(history, "model", {"recall@10": 0.2})
    assert metadata["loss_plot"].value.startswith("![model](data:image/png;base64,")
    assert metadata["best_epoch"].value == 2
    assert metadata["recall@10"].value == 0.2
    with pytest.raises(ValueError, match="not finite"):
        training_metadata(history, "model", {"recall@10": float("nan")})
