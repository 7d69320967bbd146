"""Dagster metadata for a fitted model: its curves as inline PNG plots (the form the Dagster UI
draws), and its final figures."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping

from dagster import MetadataValue
from matplotlib.figure import Figure

from models.training import TrainingHistory


def plot_markdown(png: bytes, title: str) -> MetadataValue:
    """``png`` inline in Markdown: the UI shows it as an image, where a list of numbers stays text."""
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def figure_png(figure: Figure) -> bytes:
    """``figure`` as PNG bytes, laid out tight."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


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
    return figure_png(figure)


def agreement_plot_png(agreement_by_k: Mapping[int, float], chance: float, title: str) -> bytes:
    """A PNG of topic agreement against the number of nearest neighbours, with chance as a line."""
    figure = Figure(figsize=(5, 3), dpi=100)
    axis = figure.subplots()
    axis.plot(list(agreement_by_k), list(agreement_by_k.values()), marker="o", label="nearest pins")
    axis.axhline(chance, color="grey", linestyle=":", label="random pins")
    axis.set_xscale("log")
    axis.set_xlabel("neighbours (k)")
    axis.set_ylabel("share with the pin's topic")
    axis.set_ylim(0, 1)
    axis.legend(loc="upper right", fontsize="small")
    axis.set_title(title)
    return figure_png(figure)


def training_metadata(
    history: TrainingHistory, title: str, metrics: Mapping[str, float] | None = None
) -> dict[str, MetadataValue]:
    """Loss curve (inline PNG), epochs run and kept, the last training loss, fit seconds and ``metrics``."""
    metadata: dict[str, MetadataValue] = {
        "loss_plot": plot_markdown(loss_plot_png(history, title), title),
        "epochs": MetadataValue.int(len(history.train_loss)),
        "best_epoch": MetadataValue.int(history.best_epoch),
        "fit_seconds": MetadataValue.float(round(history.seconds, 2)),
    }
    if history.train_loss:
        metadata["last_train_loss"] = MetadataValue.float(round(history.train_loss[-1], 5))
    for name, value in (metrics or {}).items():
        if not math.isfinite(value):
            raise ValueError(f"metric {name} is not finite: {value}")
        metadata[name] = MetadataValue.float(float(value))
    return metadata
