"""Dagster assets, one module per kind of data."""

# Where more steps are ready than run at once (`corkboard materialize` runs two), the step with the
# longest chain of work from it to the end of the run goes first. The chains rank the same on demo
# and on large (seconds per step in docs/performance.md):
#   PinSAGE and the steps it waits for: PinSAGE alone is 382 s on demo, 2,052 s on large;
#   the ranker's inputs, then the ranker: the text index alone is 94 s and 646 s;
#   the two-tower: 172 s and 1,518 s, longer than the ranker (141 s and over 1,000 s), so it goes first;
#   the ranker;
#   the PinnerSage medoids (20 s and 271 s), which no step waits for.
# A step never outranks a step it waits for.


def _priority(rank: int) -> dict[str, str]:
    return {"dagster/priority": str(rank)}


PINSAGE_PATH = _priority(3)
RANKER_INPUTS = _priority(2)
BEFORE_THE_RANKER = _priority(1)
RANKER = _priority(0)
LAST = _priority(-1)
