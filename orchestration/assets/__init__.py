"""Dagster assets, one module per kind of data."""

# Where several steps are ready at once (`corkboard materialize` runs two at a time), the higher
# priority goes first. PinSAGE, the longest, and the steps it waits for go first; the two-tower,
# which no other step waits for, goes last, so that the ranker (the next longest, ready once the
# text index is) trains beside PinSAGE and the two-tower after it.
CRITICAL_PATH = {"dagster/priority": "1"}
LAST = {"dagster/priority": "-1"}
