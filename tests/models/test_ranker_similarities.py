"""The ranker's learned similarities: each impression's user side made of its user's engagements
before it, cosines that are finite and zero where a kind is missing, pin vectors trained before the
window."""

import numpy as np
import pandas as pd

from core.world import World
from models.interests import LATEST_ENGAGEMENTS
from models.pinsage import PinSageConfig
from models.ranker_representations import learned_tables_before
from models.ranker_similarities import (
    HISTORY_DECAY,
    VectorTable,
    history_vector,
    history_vectors_before,
    impression_similarities,
)

SINCE = pd.Timestamp("2026-02-01", tz="UTC")
PINS = VectorTable(np.array([3, 1, 2]), np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32))


def engagements(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(user, pin, days before SINCE) rows as engagement events."""
    frame = pd.DataFrame(rows, columns=["user_id", "pin_id", "days"])
    return frame.assign(action="click", ts=SINCE - pd.to_timedelta(frame.pop("days"), unit="D"))


def at(rows: list[tuple[int, float]]) -> pd.DataFrame:
    """(user, days before SINCE) rows as the moments to build user sides at."""
    frame = pd.DataFrame(rows, columns=["user_id", "days"])
    return frame.assign(ts=SINCE - pd.to_timedelta(frame.pop("days"), unit="D"))


def test_each_row_sees_its_users_engagements_strictly_before_it():
    events = engagements([(7, 1, 5), (7, 3, 1), (8, 2, 2)])
    moments = at([(7, 0), (7, 1), (7, 3), (7, 6), (8, 0), (9, 0)])
    vectors = history_vectors_before(events, {"pinsage": PINS}, moments)["pinsage"]
    # user 7 after both: pin 1 then pin 3, the latest weighted 1 and the one before HISTORY_DECAY
    both = (HISTORY_DECAY * np.array([1.0, 0.0]) + np.array([0.0, 1.0])) / (1 + HISTORY_DECAY)
    np.testing.assert_allclose(vectors[0], both, rtol=1e-6)
    np.testing.assert_allclose(vectors[1], [1.0, 0.0], rtol=1e-6)  # at pin 3's moment: not yet
    np.testing.assert_allclose(vectors[2], [1.0, 0.0], rtol=1e-6)
    assert not vectors[3].any()  # before any engagement: no direction
    np.testing.assert_allclose(vectors[4], [0.6, 0.8], rtol=1e-6)
    assert not vectors[5].any()  # no engagements at all


def test_the_running_user_side_equals_the_served_history_vector():
    rng = np.random.default_rng(0)
    rows = [(7, int(pin), float(day)) for pin, day in zip(rng.choice([1, 2, 3], 130), rng.permutation(130) + 1.0)]
    events = engagements(rows)
    moments = at([(7, day) for day in (0.5, 10.5, 60.5, 129.5)])
    ordered = events.sort_values("ts")
    for moment, vector in zip(moments["ts"], history_vectors_before(events, {"pinsage": PINS}, moments)["pinsage"]):
        earlier = ordered[ordered["ts"] < moment]
        served = history_vector(PINS.of(earlier["pin_id"].to_numpy()))
        np.testing.assert_allclose(vector, served, atol=1e-6)


def test_each_kind_gets_its_own_user_side_from_one_pass():
    wide = VectorTable(np.array([1, 3]), np.array([[1.0, 0.0, 2.0], [0.0, 4.0, 0.0]], dtype=np.float32))
    sides = history_vectors_before(engagements([(7, 3, 1)]), {"pinsage": PINS, "text": wide}, at([(7, 0)]))
    np.testing.assert_allclose(sides["pinsage"][0], [0.0, 1.0])
    np.testing.assert_allclose(sides["text"][0], [0.0, 4.0, 0.0])


def test_only_the_latest_engagements_count():
    old = [(7, 3, 100 + day) for day in range(LATEST_ENGAGEMENTS)]
    latest = [(7, 1, 1 + day) for day in range(LATEST_ENGAGEMENTS)]
    vectors = history_vectors_before(engagements([*old, *latest]), {"pinsage": PINS}, at([(7, 0)]))["pinsage"]
    np.testing.assert_allclose(vectors[0], [1.0, 0.0], atol=1e-6)


def test_impression_similarities_are_cosines_and_zero_where_a_kind_is_missing():
    events = engagements([(7, 1, 1)])
    impressions = at([(7, 0), (7, 0), (8, 0)]).assign(pin_id=[1, 2, 1]).rename(columns={"ts": "event_timestamp"})
    columns = impression_similarities(("pinsage", "text"), impressions, events, {"pinsage": PINS})
    assert columns.shape == (3, 2) and np.isfinite(columns).all()
    np.testing.assert_allclose(columns[:, 0], [1.0, 0.6, 0.0], rtol=1e-6)  # user 8 has no engagement: 0
    assert not columns[:, 1].any()  # no text vectors served


def test_only_the_kinds_named_get_pin_tables():
    world = World(
        pins=pd.DataFrame({"pin_id": [1, 2, 3]}), boards=pd.DataFrame(), board_pins=pd.DataFrame(),
        users=pd.DataFrame({"user_id": [7, 8, 9]}), events=engagements([(7, 1, 3)]),
    )
    content = {"text": PINS, "visual": PINS}
    tables = learned_tables_before(world, SINCE, ("text",), pinsage=PinSageConfig(), content=content)
    assert set(tables.pins) == {"text"} and tables.metrics == {}
