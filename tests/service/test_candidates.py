"""The candidate set: every row once, in the order first proposed, with the sources behind it;
each source's rows once, in its own order; exclusions and unknown pins skipped."""

from __future__ import annotations

import numpy as np

from service.candidates import Candidates


def test_rows_keep_the_order_first_proposed_and_each_source_behind_them() -> None:
    candidates = Candidates()
    candidates.add(np.array([5, 3, -1, 5, 9]), "embedding", exclude=frozenset({9}))
    candidates.add(np.array([7, 3, 8]), "pixie", exclude=frozenset({9}))
    candidates.add(np.array([2, 7]), "embedding")
    assert candidates.sources == {5: ["embedding"], 3: ["embedding", "pixie"], 7: ["pixie", "embedding"],
                                  8: ["pixie"], 2: ["embedding"]}  # fmt: skip
    assert list(candidates.sources) == [5, 3, 7, 8, 2]
    assert candidates.by_source == {"embedding": [5, 3, 2, 7], "pixie": [7, 3, 8]}


def test_a_source_with_nothing_left_after_its_exclusions_is_not_recorded() -> None:
    candidates = Candidates()
    candidates.add(np.array([4, -1]), "co_engagement", exclude=frozenset({4}))
    assert candidates.sources == {} and candidates.by_source == {}
