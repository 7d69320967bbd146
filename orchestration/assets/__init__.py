"""Dagster assets, one module per kind of data."""

# Where several steps are ready at once (`corkboard materialize` runs two at a time), the higher
# priority goes first. PinSAGE, the longest, and the steps it waits for go first. The PinnerSage
# medoids, short and awaited by no other step, go last: the two-tower and the ranker (with the text
# index before it) then share the other slot beside PinSAGE, and the medoids take PinSAGE's once it ends.
# That order was measured on demo; on large it leaves the ranker alone at the end (docs/performance.md).
CRITICAL_PATH = {"dagster/priority": "1"}
LAST = {"dagster/priority": "-1"}
