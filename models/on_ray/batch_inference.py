"""Batch inference on Ray Data: a row-wise function mapped over every input by a pool of actors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.batch_inference import RowFunction, map_here


class _Apply:
    """A Ray Data actor: holds ``function`` (shipped once, through the object store) and applies it to batches."""

    def __init__(self, function: RowFunction) -> None:
        self.function = function

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "output": np.asarray(self.function(batch["input"]))}


# Each block is a Ray Data task with a fixed cost: a trivial function over 1M rows on one actor took
# 13.2-15.4 s in blocks of 1,024 rows and 5.3-6.4 s in blocks of 8,192 (docs/scale.md). The row
# functions batch internally, as they must for ``map_here``'s one call over every row.
ROWS_PER_BLOCK = 8192


def map_rows(
    function: RowFunction, inputs: np.ndarray, *, workers: int, batch_size: int = ROWS_PER_BLOCK
) -> np.ndarray:
    """``function(inputs)`` computed by ``workers`` Ray actors of one CPU each, ``batch_size`` rows a
    call; rows in input order. ``function`` must treat rows independently and be picklable (e.g. a
    ``functools.partial`` of a model)."""
    import ray

    if workers < 1 or batch_size < 1:
        raise ValueError(f"need workers >= 1 and batch_size >= 1, got {workers} and {batch_size}")
    if len(inputs) == 0:
        return map_here(function, inputs)
    frame = pd.DataFrame({"row": np.arange(len(inputs)), "input": list(inputs)})
    # One block per batch, built here: a repartition would need CPUs that the actors hold.
    blocks = [frame.iloc[start : start + batch_size] for start in range(0, len(frame), batch_size)]
    outputs = ray.data.from_pandas(blocks).map_batches(
        _Apply,
        fn_constructor_args=(function,),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    rows, values = [], []
    for batch in outputs.iter_batches(batch_format="numpy", batch_size=None):
        rows.append(batch["row"])
        values.append(batch["output"])
    order = np.argsort(np.concatenate(rows), kind="stable")  # Ray Data does not keep the order
    return np.concatenate(values)[order]
