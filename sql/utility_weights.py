"""Utility weight sets and experiment arms: the serving weights live in the database, not in code."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from models.utility import UtilityWeights
from sql.driver import fetch_all

DEFAULT_WEIGHTS = "default"
_ARM_WEIGHTS_PREFIX = "arm:"  # arms' weight sets share the table with 'default' without clashing
_TRAFFIC_SLACK = 1e-9  # 0.7 + 0.2 + 0.1 may sum to 1.0000000000000002


@dataclass(frozen=True)
class Arm:
    """An experiment arm: a weight set served to a ``traffic`` share of users."""

    name: str
    weights: UtilityWeights
    traffic: float


class TrafficExceededError(ValueError):
    """The arms' traffic shares would add up to more than 1."""


def get_weights(conn: Connection, *, name: str) -> UtilityWeights | None:
    """The weight set called ``name``, if stored."""
    rows = fetch_all(conn, "SELECT creator, merchant, ad FROM utility_weights WHERE name = %(name)s", {"name": name})
    if not rows:
        return None
    creator, merchant, ad = rows[0]
    return UtilityWeights(creator=creator, merchant=merchant, ad=ad)


def default_weights(conn: Connection) -> UtilityWeights:
    """The weights served to users outside every arm (the code's defaults if the row is gone)."""
    return get_weights(conn, name=DEFAULT_WEIGHTS) or UtilityWeights()


def put_weights(conn: Connection, *, name: str, weights: UtilityWeights) -> None:
    """Create or replace the weight set called ``name``."""
    conn.execute(
        text(
            "INSERT INTO utility_weights (name, creator, merchant, ad) VALUES (:name, :creator, :merchant, :ad) "
            "ON CONFLICT (name) DO UPDATE SET creator = EXCLUDED.creator, merchant = EXCLUDED.merchant, "
            "ad = EXCLUDED.ad, updated_at = now()"
        ),
        {"name": name, **weights.as_dict()},
    )


def list_arms(conn: Connection) -> list[Arm]:
    """Every experiment arm with its weights, by name."""
    rows = fetch_all(
        conn,
        "SELECT a.arm, a.traffic, w.creator, w.merchant, w.ad FROM experiment_arms a "
        "JOIN utility_weights w ON w.name = a.weights_name ORDER BY a.arm",
    )
    return [
        Arm(arm, UtilityWeights(creator=creator, merchant=merchant, ad=ad), traffic)
        for arm, traffic, creator, merchant, ad in rows
    ]


def put_arm(conn: Connection, *, name: str, weights: UtilityWeights, traffic: float) -> None:
    """Create or replace arm ``name`` and its weight set in the caller's transaction.

    Raises ``TrafficExceededError`` when the arms' shares would then sum above 1; the caller
    must roll back.
    """
    # Serialize arm writes (reads go on) so two concurrent puts cannot both pass the sum check.
    conn.execute(text("LOCK TABLE experiment_arms IN SHARE ROW EXCLUSIVE MODE"))
    weights_name = _ARM_WEIGHTS_PREFIX + name
    put_weights(conn, name=weights_name, weights=weights)
    conn.execute(
        text(
            "INSERT INTO experiment_arms (arm, weights_name, traffic) VALUES (:arm, :weights_name, :traffic) "
            "ON CONFLICT (arm) DO UPDATE SET weights_name = EXCLUDED.weights_name, traffic = EXCLUDED.traffic"
        ),
        {"arm": name, "weights_name": weights_name, "traffic": traffic},
    )
    total = conn.execute(text("SELECT sum(traffic) FROM experiment_arms")).scalar_one()
    if total > 1 + _TRAFFIC_SLACK:
        raise TrafficExceededError(
            f"arm {name!r} at traffic {traffic:g} would bring all arms to {total:.4g} > 1; lower another arm first"
        )


def delete_arm(conn: Connection, *, name: str) -> bool:
    """Remove arm ``name`` and its weight set (ending the experiment); False if there was none."""
    weights_name = conn.execute(
        text("DELETE FROM experiment_arms WHERE arm = :arm RETURNING weights_name"), {"arm": name}
    ).scalar_one_or_none()
    if weights_name is None:
        return False
    conn.execute(text("DELETE FROM utility_weights WHERE name = :name"), {"name": weights_name})
    return True
