"""Dagster assets, one module per kind of data."""

# Where more steps are ready than run at once (`corkboard materialize` runs two), the higher
# priority goes first (seconds per step in docs/performance.md):
#   PinSAGE and the steps it waits for: the PinSAGE step took 382 s on demo, 2,380 s on large;
#   the ranker's inputs: the text index, the features, the pin embedding and its index;
#   the ranker, before the two-tower: on large it is the longer (1,952 s against 1,780 s), and the
#   two-tower then takes PinSAGE's slot when PinSAGE ends; on demo the two share the slot beside
#   PinSAGE in either order;
#   the two-tower;
#   the PinnerSage medoids (20 s and 328 s), which no step waits for.
# A step never outranks a step it waits for.


def _priority(rank: int) -> dict[str, str]:
    return {"dagster/priority": str(rank)}


PINSAGE_PATH = _priority(3)
RANKER_INPUTS = _priority(2)
RANKER = _priority(1)
AFTER_THE_RANKER = _priority(0)
LAST = _priority(-1)
