"""The served models in numpy: the ranker, the query tower and the two-tower's user tower, read
from the same checkpoints as their torch models (``load_checkpoint(..., as_numpy=True)``).

Serving runs their forward passes only, and numpy does that for a page's batch as fast as torch
does; so the service never imports torch, which would hold a third of its memory (docs/performance.md).
Tests hold each one to its torch model's output.
"""
