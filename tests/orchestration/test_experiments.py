"""The experiments' assets on the tiny world with logged pages and posted engagements: each arm's
outcomes as a table and a plot, weights proposed under the asset's configured minimums, and
`corkboard tune --apply` storing the chosen weights as the default."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from models.utility import UtilityWeights
from orchestration.assets.experiments import experiment_outcomes, utility_tuning
from orchestration.definitions import RESOURCES
from sql.migrate import migrated_engine
from sql.posted_events import PostedEvent, append_posted
from sql.utility_weights import DEFAULT_WEIGHTS, default_weights, put_arm, put_weights
from tests.conftest import corkboard

POSTED_BY = "experiments-test"
PREFIX = "experiments-test-"
ARM, EMPTY_ARM = "experiments-test-arm", "experiments-test-empty"
PLOT = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def png_in(markdown: str) -> bytes:
    match = PLOT.search(markdown)
    assert match, markdown[:200]
    return base64.b64decode(match.group(1))


@pytest.fixture(scope="module")
def logged_pages(materialized_tiny) -> Iterator[list[int]]:
    """Home feeds of four users logged (two in ARM, two on the default weights), each user clicking
    the first pin and saving the second of their page; EMPTY_ARM configured but served nothing."""
    engine = migrated_engine()
    with engine.begin() as conn:
        users = list(conn.scalars(text("SELECT user_id FROM users ORDER BY user_id LIMIT 4")))
        pins = list(conn.scalars(text("SELECT pin_id FROM pins ORDER BY pin_id LIMIT 5")))
        before = default_weights(conn)
        for arm in (ARM, EMPTY_ARM):
            put_arm(conn, name=arm, weights=UtilityWeights(creator=1.0), traffic=0.0)
        now = datetime.now(UTC) - timedelta(minutes=1)
        events = []
        for i, user in enumerate(users):
            request = f"{PREFIX}{i}"
            arm = ARM if i < 2 else None
            for position, pin in enumerate(pins):
                conn.execute(
                    text(
                        "INSERT INTO page_impressions (request_id, position, pin_id, surface, user_id, arm) "
                        "VALUES (:r, :p, :pin, 'homefeed', :u, :arm)"
                    ),
                    {"r": request, "p": position, "pin": pin, "u": user, "arm": arm},
                )
            for position, action in ((0, "click"), (1, "save")):
                events.append(PostedEvent(
                    client_event_id=f"{request}-{action}", user_id=user, pin_id=pins[position], action=action,
                    surface="homefeed", ts=now, position=position, request_id=request, arm=arm,
                ))
        append_posted(conn, events=events, posted_by=POSTED_BY)
    yield users
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM events WHERE event_id IN (SELECT event_id FROM posted_events WHERE posted_by = :b)"),
            {"b": POSTED_BY},
        )
        conn.execute(text("DELETE FROM posted_events WHERE posted_by = :b"), {"b": POSTED_BY})
        conn.execute(text("DELETE FROM page_impressions WHERE request_id LIKE :p"), {"p": f"{PREFIX}%"})
        conn.execute(text("DELETE FROM experiment_arms WHERE arm LIKE :p"), {"p": f"{PREFIX}%"})
        conn.execute(text("DELETE FROM utility_weights WHERE name LIKE :p"), {"p": f"arm:{PREFIX}%"})
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=before)


def materialized_metadata(asset, run_config: dict | None = None) -> dict:
    with DagsterInstance.ephemeral() as instance:
        result = materialize([asset], resources=RESOURCES, instance=instance, run_config=run_config)
        assert result.success
        [event] = result.asset_materializations_for_node(asset.op.name)
        return {name: value.value for name, value in event.metadata.items()}


def test_outcomes_show_each_arm_as_a_table_and_a_plot(logged_pages):
    metadata = materialized_metadata(experiment_outcomes)
    rows = {line.split(" | ")[0].strip("| "): line for line in metadata["outcomes"].splitlines()[2:]}
    # Each arm: 2 users, 2 pages of 5 pins, 2 clicks and 2 saves; the same for both, so no spread.
    assert rows[ARM].startswith(f"| {ARM} | 2 | 2 | 10 | 0.2000 [0.2000, 0.2000] | 0.2000 [0.2000, 0.2000] |")
    assert f"| {EMPTY_ARM} | 0 | 0 | 0 | no impressions |" in rows[EMPTY_ARM]
    default = [line for name, line in rows.items() if name == "(default)"]
    assert default and "| 0.0000 [0.0000, 0.0000] |" in default[0]  # no hides anywhere in these pages
    assert png_in(metadata["outcomes_plot"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_tuning_proposes_weights_meeting_its_configured_minimums(logged_pages):
    with migrated_engine().connect() as conn:
        served = default_weights(conn)
    config = {"min_creator": 1.1, "relative": True, "users": 4}
    metadata = materialized_metadata(utility_tuning, {"ops": {"utility_tuning": {"config": config}}})
    assert metadata["users"] == 4 and metadata["users_from"] == "logged home feeds"
    minimums, achieved = metadata["minimums"], metadata["tuning_utilities"]
    assert metadata["proposed"] is not None and minimums["creator"] > 0
    assert all(achieved[name] >= minimum for name, minimum in minimums.items())
    assert png_in(metadata["tradeoff_plot"])[:8] == b"\x89PNG\r\n\x1a\n"
    with migrated_engine().connect() as conn:  # proposed, not applied
        assert default_weights(conn) == served


def test_tune_apply_stores_the_chosen_weights_as_the_default(logged_pages, tmp_path):
    with migrated_engine().begin() as conn:
        served = default_weights(conn)
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=UtilityWeights(creator=0.05, merchant=0.05, ad=0.05))
    try:
        result = corkboard("tune", "--users", "6", "--min-creator", "1.2", "--relative", "--apply",
                           "--out-dir", str(tmp_path), check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads(result.stdout)
        assert summary["applied"] == {"before": {"creator": 0.05, "merchant": 0.05, "ad": 0.05}, "after": summary["chosen"]}
        assert "default weights" in result.stderr
        with migrated_engine().connect() as conn:
            assert default_weights(conn).as_dict() == summary["chosen"]
    finally:  # the later modules' pages (search topics among them) are ranked with the weights they expect
        with migrated_engine().begin() as conn:
            put_weights(conn, name=DEFAULT_WEIGHTS, weights=served)
