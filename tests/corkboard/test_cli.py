"""The CLI end to end on a fresh data dir: materialize (in the fixture), users, recommend, features."""

import json

from tests.conftest import corkboard


def first_user() -> int:
    lines = corkboard("users", "--limit", "1").stdout.split()
    assert len(lines) == 1
    return int(lines[0])


def test_recommend_prints_ten_distinct_scored_pins(materialized_tiny):
    page = json.loads(corkboard("recommend", str(first_user()), "--k", "10").stdout)
    pins = [item["pin_id"] for item in page["items"]]
    assert len(pins) == 10 and len(set(pins)) == 10
    assert page["fallback"] is None
    scores = [item["score"] for item in page["items"]]
    assert scores == sorted(scores, reverse=True)
    for item in page["items"]:
        assert set(item["heads"]) == {"click", "save", "long_click", "hide"}
        assert all(0.0 <= p <= 1.0 for p in item["heads"].values())
        assert set(item["utility"]) == {"pinner", "creator", "merchant", "ad"}
        assert item["sources"]


def test_weights_change_the_blend(materialized_tiny):
    user = str(first_user())
    plain = json.loads(corkboard("recommend", user, "--k", "20", "--weights", "creator=0,merchant=0,ad=0").stdout)
    creator = json.loads(corkboard("recommend", user, "--k", "20", "--weights", "creator=5,merchant=0,ad=0").stdout)
    assert plain["weights"]["creator"] == 0 and creator["weights"]["creator"] == 5
    page_utility = lambda page: sum(item["utility"]["creator"] for item in page["items"])
    assert page_utility(creator) > page_utility(plain)


def test_bad_weights_fail_with_a_message(materialized_tiny):
    result = corkboard("recommend", "1", "--weights", "bogus=1", check=False)
    assert result.returncode == 2 and "bogus" in result.stderr


def test_k_out_of_range_is_refused(materialized_tiny):
    result = corkboard("recommend", "1", "--k", "0", check=False)
    assert result.returncode == 2 and "between 1 and 500" in result.stderr


def test_features_prints_the_users_online_row(materialized_tiny):
    user = first_user()
    row = json.loads(corkboard("features", str(user)).stdout)
    assert row["user_id"] == user
    assert row["user_profile__country"]
    assert row["user_engagement__impressions_30d"] > 0


def test_graph_candidates_follow_the_users_interests(materialized_tiny):
    """Pixie and co-engagement candidates of the most active users hold their engaged topics far
    more often than the catalogue does."""
    import numpy as np

    from core.settings import get_settings
    from service.request_context import request_context
    from service.state_loading import open_serving_state
    from service.surfaces.home_feed import home_candidates

    state = open_serving_state(get_settings())
    category = state.pins.category
    share = {c: float(np.mean(category == c)) for c in set(category)}
    on_topic, chance = [], []
    for user in [int(u) for u in corkboard("users", "--limit", "5").stdout.split()]:
        context = request_context(state, user_id=user, override=None).user
        engaged = set(category[state.vectors.model.pin_rows(context.engagements.pin_ids)])
        candidates, _ = home_candidates(state, context)
        graph_rows = [row for row, sources in candidates.sources.items() if {"pixie", "co_engagement"} & set(sources)]
        on_topic.append(np.mean([category[row] in engaged for row in graph_rows]))
        chance.append(sum(share[c] for c in engaged))
    assert np.mean(on_topic) > 2 * np.mean(chance)


def test_cached_user_features_match_the_online_store(materialized_tiny):
    """The user table read at load serves each user exactly what a per-request online read would;
    a user unknown at load is read from the online store and flagged as served on defaults."""
    import numpy as np

    from core.settings import get_settings
    from features.store import fill_missing_features, online_features
    from service.state_loading import open_serving_state
    from service.user_context import user_features

    state = open_serving_state(get_settings())
    for user in [int(u) for u in corkboard("users", "--limit", "3").stdout.split()]:
        cached = user_features(state, user)
        online = state.encoder.encode_users(
            fill_missing_features(online_features(state.store, user_ids=[user]), state.defaults)
        )
        np.testing.assert_allclose(cached.features, online)
        assert cached.missing == () and cached.locale is not None
    unknown = user_features(state, int(state.users.user_ids.max()) + 1)
    assert unknown.missing and unknown.locale is None and unknown.degraded == ()


def test_a_report_path_that_names_a_folder_is_refused_before_any_work(tmp_path):
    for command in (("evaluate", "--funnel"), ("bench",), ("materialize", "--world", "tiny")):
        flag = "--profile" if command[0] == "materialize" else "--out"
        result = corkboard(*command, flag, str(tmp_path), check=False)
        assert result.returncode == 2 and "is a folder" in result.stderr, command
