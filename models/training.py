"""The one epoch loop every learned model uses: progress per epoch, early stopping, best weights kept."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn, optim

from models.row_sparse_adam import RowSparseAdam

EpochCallback = Callable[[int, float, float], None]


@dataclass
class TrainingHistory:
    """Mean training loss and validation score per epoch, the epoch whose weights were kept, seconds."""

    train_loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def sparse_and_dense_adam(model: nn.Module, lr: float) -> list[optim.Optimizer]:
    """``SparseAdam``'s update (``RowSparseAdam``) over the tables whose gradients are sparse
    (``sparse=True`` embeddings: only the rows a step reads are updated) and ``Adam`` over every
    other parameter, for ``descend``."""
    tables = [
        module for module in model.modules() if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and module.sparse
    ]
    sparse = [parameter for table in tables for parameter in table.parameters()]
    dense = [parameter for parameter in model.parameters() if not any(parameter is s for s in sparse)]
    return [
        optimizer(parameters, lr=lr)
        for optimizer, parameters in ((RowSparseAdam, sparse), (optim.Adam, dense))
        if parameters
    ]


def descend(loss: Tensor, optimizers: Sequence[optim.Optimizer]) -> float:
    """One gradient step of ``loss`` through every optimizer (dense and sparse parameters are
    often split between two); returns the loss as a float."""
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
    return loss.item()


def fit_epochs(
    model: nn.Module,
    train_epoch: Callable[[int], float],
    *,
    epochs: int,
    validate: Callable[[], float] | None = None,
    patience: int = 1,
    on_epoch: EpochCallback | None = None,
) -> TrainingHistory:
    """Run ``train_epoch(epoch)`` (1-based, returns the epoch's mean loss) up to ``epochs`` times.

    With ``validate`` (higher is better, called after each epoch with the model in eval mode),
    training stops after ``patience`` epochs without improvement and the best epoch's weights are
    loaded back; without it every epoch counts and the last weights stay. ``on_epoch(epoch, loss,
    score)`` reports progress (score is NaN without ``validate``). The model is left in eval mode.
    """
    if epochs < 0 or patience < 1:
        raise ValueError(f"need epochs >= 0 and patience >= 1, got {epochs} and {patience}")
    history, started = TrainingHistory(), time.perf_counter()
    best_weights, best_score, stale = _BestWeights(), -math.inf, 0
    for epoch in range(1, epochs + 1):
        model.train()
        history.train_loss.append(float(train_epoch(epoch)))
        model.eval()
        score = float("nan") if validate is None else float(validate())
        if on_epoch is not None:
            on_epoch(epoch, history.train_loss[-1], score)
        if validate is None:
            history.best_epoch = epoch
            continue
        history.validation.append(score)
        if score > best_score:
            best_weights.keep(model)
            best_score, stale = score, 0
            history.best_epoch = epoch
        else:
            stale += 1
            if stale >= patience:
                break
    best_weights.restore(model)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history


class _BestWeights:
    """The best epoch's weights, kept in an unnamed temporary file rather than in memory beside the
    model's own: on a catalogue of 1M pins the two-tower's are 0.5 GiB."""

    def __init__(self) -> None:
        self._file: tempfile.SpooledTemporaryFile[bytes] | None = None

    def keep(self, model: nn.Module) -> None:
        """Replace the kept weights with ``model``'s."""
        if self._file is None:
            self._file = tempfile.SpooledTemporaryFile(max_size=2**24)  # small models stay in memory
        self._file.seek(0)
        self._file.truncate()
        torch.save(model.state_dict(), self._file)

    def restore(self, model: nn.Module) -> None:
        """Load the kept weights into ``model`` (nothing when none were kept) and let the file go."""
        if self._file is None:
            return
        self._file.seek(0)
        model.load_state_dict(torch.load(self._file, weights_only=True))
        self._file.close()
        self._file = None
