"""Which utility weights a request is served: stored default, experiment arm, override, database down."""

from __future__ import annotations

import pytest

from models.utility import UtilityWeights
from service.served_weights import ServedWeights, StoredWeights, WeightsOverride, served_weights
from sql.utility_weights import Arm

STORED_DEFAULT = UtilityWeights(creator=0.9, merchant=0.4, ad=0.1)
EVERYONE = Arm("everyone", UtilityWeights(creator=0.0, merchant=0.0, ad=2.0), 1.0)


def test_users_get_their_arm_and_anonymous_requests_the_stored_default() -> None:
    stored = StoredWeights(STORED_DEFAULT, [EVERYONE])
    assert served_weights(stored, user_id=7, override=None) == ServedWeights(EVERYONE.weights, "everyone")
    assert served_weights(stored, user_id=None, override=None) == ServedWeights(STORED_DEFAULT)
    outside = StoredWeights(STORED_DEFAULT, [])
    assert served_weights(outside, user_id=7, override=None) == ServedWeights(STORED_DEFAULT)


def test_an_override_replaces_the_weights_it_names_in_the_stored_default_outside_any_arm() -> None:
    stored = StoredWeights(STORED_DEFAULT, [EVERYONE])
    served = served_weights(stored, user_id=7, override=WeightsOverride.parse("creator=1.5, ad=0"))
    assert served == ServedWeights(UtilityWeights(creator=1.5, merchant=0.4, ad=0.0))


def test_without_the_database_the_code_defaults_are_served_and_flagged() -> None:
    served = served_weights(None, user_id=7, override=None)
    assert served == ServedWeights(UtilityWeights(), degraded=True)
    assert served.degraded_sources == ["utility_weights"]
    partial = served_weights(None, user_id=None, override=WeightsOverride.parse("ad=1"))
    assert partial == ServedWeights(UtilityWeights(ad=1.0), degraded=True)
    complete = served_weights(None, user_id=7, override=WeightsOverride.parse("creator=1,merchant=0,ad=0"))
    assert complete == ServedWeights(UtilityWeights(creator=1.0, merchant=0.0, ad=0.0))
    assert complete.degraded_sources == []


@pytest.mark.parametrize("text", ["creator", "charity=2", "creator=-1", "ad=1,ad=2", "merchant=lots", ""])
def test_malformed_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="utility weight"):
        WeightsOverride.parse(text)
