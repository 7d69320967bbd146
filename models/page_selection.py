"""Which candidates fill a page: the best by blended score, one per near-duplicate image, at most
``max_per_creator`` of one creator. The service assembles its pages with it and the utility tuner
replays them with it, so the tuner measures the pages that are served."""

from __future__ import annotations

import numpy as np


def select_page(
    scores: np.ndarray, *, signatures: np.ndarray, creators: np.ndarray, k: int, max_per_creator: int
) -> list[int]:
    """Indices of the best ``scores``, best first (ties in given order), skipping a candidate whose
    image signature is already on the page or whose creator has ``max_per_creator`` pins there;
    at most ``k``, fewer when the candidates run out (a page is left short rather than broken)."""
    chosen: list[int] = []
    seen_signatures: set[int] = set()
    per_creator: dict[int, int] = {}
    for i in np.argsort(-scores, kind="stable").tolist():
        signature, creator = int(signatures[i]), int(creators[i])
        if signature in seen_signatures or per_creator.get(creator, 0) >= max_per_creator:
            continue
        chosen.append(i)
        seen_signatures.add(signature)
        per_creator[creator] = per_creator.get(creator, 0) + 1
        if len(chosen) == k:
            break
    return chosen
