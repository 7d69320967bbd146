"""Dagster metadata for a trained model: its per-epoch curve as a plot, and its final figures."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping

from dagster import MetadataValue
from matplotlib.figure import Figure

from models.training import TrainingHistory


def loss_plot_png(history: TrainingHistory, title: str) -> bytes:
    """A PNG of training loss per epoch, with the validation score on a second axis when there is one."""
    figure = Figure(figsize=(5, 3), dpi=100)
    axis = figure.subplots()
    epochs = range(1, len(history.train_loss) + 1)
    axis.plot(epochs, history.train_loss, marker="o", color="tab:blue", label="training loss")
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss", color="tab:blue")
    if history.validation:
        score = axis.twinx()
        score.plot(range(1, len(history.validation) + 1), history.validation, marker="s", color="tab:orange")
        score.set_ylabel("validation score", color="tab:orange")
    if history.best_epoch:
        axis.axvline(history.best_epoch, color="grey", linestyle=":", label=f"kept: epoch {history.best_epoch}")
    axis.legend(loc="upper right", fontsize="small")
    axis.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def training_metadata(
    history: TrainingHistory, title: str, metrics: Mapping[str, float] | None = None
) -> dict[str, MetadataValue]:
    """Loss curve (inline PNG), per-epoch figures, the kept epoch, fit seconds and ``metrics``."""
    encoded = base64.b64encode(loss_plot_png(history, title)).decode("ascii")
    metadata: dict[str, MetadataValue] = {
        "loss_plot": MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})"),
        "train_loss_per_epoch": MetadataValue.json([round(loss, 5) for loss in history.train_loss]),
        "best_epoch": MetadataValue.int(history.best_epoch),
        "fit_seconds": MetadataValue.float(round(history.seconds, 2)),
    }
    if history.validation:
        metadata["validation_per_epoch"] = MetadataValue.json([round(score, 5) for score in history.validation])
    for name, value in (metrics or {}).items():
        if not math.isfinite(value):
            raise ValueError(f"metric {name} is not finite: {value}")
        metadata[name] = MetadataValue.float(float(value))
    return metadata
