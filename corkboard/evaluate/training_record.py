"""What a fitted model's training left behind for the report: its kept epoch and validation curve."""

from __future__ import annotations

from typing import Any

from models.leave_last_out import ChosenOnValidation, Recommender


def training_record(model: Recommender) -> dict[str, Any]:
    """``best_epoch`` and ``curve`` (the validation score per epoch) of a model trained in epochs;
    None and an empty curve for one fitted in closed form."""
    trained = model.chosen if isinstance(model, ChosenOnValidation) else model
    history = getattr(trained, "history", None)
    if history is None:
        return {"best_epoch": None, "curve": []}
    return {"best_epoch": int(history.best_epoch), "curve": [round(float(score), 6) for score in history.validation]}
