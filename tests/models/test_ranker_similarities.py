"""The ranker's learned similarities: user sides made of the engagements given (before the training
window, in training), cosines that are finite and zero where a kind is missing."""

import numpy as np
import pandas as pd

from core.world import World
from models.interests import LATEST_ENGAGEMENTS
from models.pinsage import PinSageConfig
from models.ranker_representations import learned_tables_before
from models.ranker_similarities import (
    HISTORY_DECAY,
    VectorTable,
    history_vectors,
    impression_similarities,
)

SINCE = pd.Timestamp("2026-02-01", tz="UTC")
PINS = VectorTable(np.array([3, 1, 2]), np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32))


def engagements(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(user, pin, days before SINCE) rows as engagement events."""
    frame = pd.DataFrame(rows, columns=["user_id", "pin_id", "days"])
    return frame.assign(action="click", ts=SINCE - pd.to_timedelta(frame.pop("days"), unit="D"))


def test_history_vectors_weight_the_latest_pins_most():
    users = np.array([7, 8, 9])
    vectors = history_vectors(engagements([(7, 1, 5), (7, 3, 1), (8, 2, 2)]), PINS, users)
    # user 7: pin 1 then pin 3, the latest weighted 1 and the one before HISTORY_DECAY
    expected = (HISTORY_DECAY * np.array([1.0, 0.0]) + np.array([0.0, 1.0])) / (1 + HISTORY_DECAY)
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-6)
    np.testing.assert_allclose(vectors[1], [0.6, 0.8], rtol=1e-6)
    assert not vectors[2].any()  # no engagements: no direction


def test_only_the_latest_engagements_count():
    old = [(7, 3, 100 + day) for day in range(LATEST_ENGAGEMENTS)]
    latest = [(7, 1, day) for day in range(LATEST_ENGAGEMENTS)]
    vectors = history_vectors(engagements([*old, *latest]), PINS, np.array([7]))
    np.testing.assert_allclose(vectors[0], [1.0, 0.0], atol=1e-6)


def test_impression_similarities_are_cosines_and_zero_where_a_kind_is_missing():
    users = {"pinsage": VectorTable(np.array([7]), np.array([[2.0, 0.0]], dtype=np.float32))}
    impressions = pd.DataFrame({"user_id": [7, 7, 8], "pin_id": [1, 2, 1]})
    columns = impression_similarities(("pinsage", "text"), impressions, users, {"pinsage": PINS})
    assert columns.shape == (3, 2) and np.isfinite(columns).all()
    np.testing.assert_allclose(columns[:, 0], [1.0, 0.6, 0.0], rtol=1e-6)  # user 8 has no vector: 0
    assert not columns[:, 1].any()  # no text vectors served


def test_the_user_side_sees_only_engagements_before_the_window():
    events = engagements([(7, 1, 3), (8, 2, 3), (8, 3, 0), (9, 3, 0)])
    events.loc[events["user_id"] != 7, "ts"] = SINCE + pd.Timedelta(hours=1)  # 8's and 9's in the window
    world = World(
        pins=pd.DataFrame({"pin_id": [1, 2, 3]}), boards=pd.DataFrame(), board_pins=pd.DataFrame(),
        users=pd.DataFrame({"user_id": [7, 8, 9]}), events=events,
    )
    content = {"text": PINS, "visual": PINS}
    tables = learned_tables_before(
        world, SINCE, ("text",), pinsage=PinSageConfig(), content=content, user_ids=np.array([7, 8, 9])
    )
    assert set(tables.pins) == set(tables.users) == {"text"}  # only the kinds named
    np.testing.assert_allclose(tables.users["text"].of(np.array([7]))[0], [1.0, 0.0])
    assert not tables.users["text"].of(np.array([8, 9])).any()
