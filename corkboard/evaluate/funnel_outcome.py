"""Where one held-out item went through the funnel: its rank in each source, in the ranked
candidates and on the page, and in each served model's ranking of every pin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corkboard.evaluate.funnel_prior import Ranks, prior_ranks
from corkboard.evaluate.funnel_serving import ServedRequest, rank_in

HISTORY_SLOTS = 10  # how much of the page is checked for pins the user engaged with before


@dataclass(frozen=True)
class UserOutcome:
    """Ranks are 1-based, infinity where the item is absent; sizes count candidates."""

    source_ranks: dict[str, float]
    source_sizes: dict[str, int]
    union_size: int
    ranked_rank: float
    prior_ranks: Ranks  # the rank among the candidates at each weight of each similarity prior (funnel_prior)
    page_rank: float
    model_ranks: dict[str, float]
    excluded: bool  # the held-out pin was among the user's exclusions (hidden, saved or just seen)
    outside_catalogue: bool
    history_on_page: int  # of the page's first HISTORY_SLOTS, pins in the user's protocol history
    fallback: str | None
    degraded: bool
    seconds: dict[str, float]

    def proposed_only_by(self, source: str) -> bool:
        """Whether ``source`` proposed the held-out item and no other source did."""
        found = {name for name, rank in self.source_ranks.items() if rank < np.inf}
        return found == {source}


def outcome_of(
    served: ServedRequest, target_row: int, history_rows: np.ndarray, model_ranks: dict[str, float]
) -> UserOutcome:
    """The held-out item's fate in ``served`` (``target_row`` -1: not in the serving catalogue)."""
    return UserOutcome(
        source_ranks={source: rank_in(rows, target_row) for source, rows in served.by_source.items()},
        source_sizes={source: len(rows) for source, rows in served.by_source.items()},
        union_size=len(served.ranked),
        ranked_rank=rank_in(served.ranked, target_row),
        prior_ranks=prior_ranks(
            served.candidate_rows, served.ranker_pinner, served.similarities, served.prior_weights, target_row
        ),
        page_rank=rank_in(served.page, target_row),
        model_ranks=model_ranks,
        excluded=target_row in served.user.excluded_rows,
        outside_catalogue=target_row < 0,
        history_on_page=int(np.isin(served.page[:HISTORY_SLOTS], history_rows).sum()),
        fallback=served.fallback,
        degraded=bool(served.degraded),
        seconds=served.seconds,
    )
