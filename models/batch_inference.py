"""Batch inference as a parameter: a model's row-wise function over every input, computed in this
process (``map_here``) or by whatever maps rows elsewhere (``models.on_ray.batch_inference``, Ray
Data actors)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RowFunction = Callable[[np.ndarray], np.ndarray]
# (function, inputs) -> function(inputs): rows in input order, however many calls compute them.
MapRows = Callable[[RowFunction, np.ndarray], np.ndarray]


def map_here(function: RowFunction, inputs: np.ndarray) -> np.ndarray:
    """``function(inputs)`` in this process, in one call."""
    return np.asarray(function(inputs))
