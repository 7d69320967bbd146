"""Where a recommender is fitted: in this process (``fit_here``), or by a ``Fit`` elsewhere, e.g.
``models.on_ray.training.RayTrainFit`` on a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from models.leave_last_out import EvaluationSplit, Recommender
from models.visual.catalogue import one_torch_thread

R = TypeVar("R", bound=Recommender)
# Fits an unfitted recommender on a split and returns it fitted.
Fit = Callable[[R, EvaluationSplit], R]


def fit_here(recommender: R, split: EvaluationSplit) -> R:
    """``recommender`` fitted on ``split`` in this process."""
    with one_torch_thread():  # small steps: a second thread only adds synchronisation on a busy machine
        recommender.fit(split)
    return recommender
