"""A picture of each model's validation score per epoch, one line per seed."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure


def curves_png(curves: Mapping[str, Sequence[Sequence[float]]], seeds: Sequence[int], title: str) -> bytes:
    """A PNG with one panel per model (``name -> [curve per seed]``, in the order of ``seeds``),
    epochs on x, score on y."""
    panels = len(curves)
    columns = min(panels, 3)
    rows = -(-panels // columns)
    figure = Figure(figsize=(4 * columns, 2.8 * rows), dpi=100)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, (name, runs) in zip(axes, curves.items()):
        for seed, curve in zip(seeds, runs):
            axis.plot(range(1, len(curve) + 1), curve, linewidth=1.2, label=f"seed {seed}")
        axis.set_title(name, fontsize="medium")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    for axis in axes[panels:]:
        axis.set_visible(False)
    axes[0].legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
