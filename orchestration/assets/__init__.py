"""Dagster assets, one module per kind of data."""

# Steps that PinSAGE, the longest, waits for, and PinSAGE itself: where several steps are ready
# at once (`corkboard materialize` runs two at a time), these go first.
CRITICAL_PATH = {"dagster/priority": "1"}
