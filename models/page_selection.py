"""Which candidates fill a page: the best by blended score, one per near-duplicate image, at most
``max_per_creator`` of one creator in any ``CREATOR_WINDOW`` consecutive places. The service
assembles its pages with it and the utility tuner replays them with it, so the tuner measures the
pages that are served."""

from __future__ import annotations

from collections import deque

import numpy as np

# A screenful: one creator may not crowd it, yet a creator the user loves is not cut off the page
# after two pins (a cap per whole page of 100 cost the demo funnel half its page recall@100).
CREATOR_WINDOW = 10


def select_page(
    scores: np.ndarray, *, signatures: np.ndarray, creators: np.ndarray, k: int, max_per_creator: int
) -> list[int]:
    """Indices of up to ``k`` candidates, best ``scores`` first (ties in given order). Each place
    takes the best candidate not yet placed whose image signature is not on the page and whose
    creator holds fewer than ``max_per_creator`` of the ``CREATOR_WINDOW - 1`` places before it; a
    candidate held back by its creator waits for a later place. The page is left short rather than
    broken when no candidate fits."""
    chosen: list[int] = []
    seen_signatures: set[int] = set()
    latest_places: dict[int, deque[int]] = {}  # creator -> the last max_per_creator places they hold
    waiting: list[int] = []  # held back by their creator, best first
    ranked = iter(np.argsort(-scores, kind="stable").tolist())
    signature_of, creator_of = signatures.tolist(), creators.tolist()

    def fits(i: int) -> bool:
        places = latest_places.get(creator_of[i])
        return places is None or len(places) < max_per_creator or places[0] <= len(chosen) - CREATOR_WINDOW

    while len(chosen) < k:
        waiting = [i for i in waiting if signature_of[i] not in seen_signatures]
        pick = next((i for i in waiting if fits(i)), None)
        if pick is not None:
            waiting.remove(pick)
        else:
            for i in ranked:
                if signature_of[i] in seen_signatures:
                    continue
                if fits(i):
                    pick = i
                    break
                waiting.append(i)
            if pick is None:
                break
        latest_places.setdefault(creator_of[pick], deque(maxlen=max_per_creator)).append(len(chosen))
        seen_signatures.add(signature_of[pick])
        chosen.append(pick)
    return chosen
