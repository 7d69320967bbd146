"""What each experiment arm's pages earned: impressions joined to the engagements posted for them.

An impression is one pin of a logged page; it earned an action when an event with the page's
request id, the pin and that action was posted. Per arm:

- click, save and hide rate: impressions with that action over impressions;
- pinner, creator, merchant and ad utility per page: the utilities of ``models.utility`` with each
  head probability replaced by what happened (1 when the action was posted, else 0) and the pin's
  creator size and age when it was served, summed over the page and averaged over pages.

Each figure has a 95% interval from a bootstrap over users (percentiles of ``resamples`` draws of
the arm's users with replacement; a page without a user counts as a user of its own). Users, not
impressions or pages, are resampled because a user is what is assigned to an arm (a hash of their
id) and their impressions are not independent: the pins of one page share a visit and a mood, and
one user's pages share their tastes. A Wilson or normal interval over impressions would treat them
as independent and come out too narrow; resampling whole users keeps that correlation in every
draw. Each figure is a ratio of sums (events over impressions, utility over pages), recomputed per
draw, so heavy users weigh as much as they did in the arm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.utility import stakeholder_utilities

NO_ARM = "(default)"  # pages served the default weights, outside every arm
RATES = {"click_rate": "click", "save_rate": "save", "hide_rate": "hide"}
UTILITIES = ("pinner", "creator", "merchant", "ad")
METRICS = (*RATES, *UTILITIES)
ACTIONS = ("click", "long_click", "save", "hide")
IMPRESSION_COLUMNS = ("request_id", "pin_id", "user_id", "arm", "served_at")
ENGAGEMENT_COLUMNS = ("request_id", "pin_id", "action")
PIN_COLUMNS = ("pin_id", "creator_id", "is_ad", "merchant_id", "created_at")
LEVEL = 0.95


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lack columns {missing}")


def impression_outcomes(impressions: pd.DataFrame, engagements: pd.DataFrame, pins: pd.DataFrame) -> pd.DataFrame:
    """One row per impression: its arm (NO_ARM for none), the user it counts for, its request, an
    indicator per action in ACTIONS and its realized utilities (see the module doc)."""
    _require(impressions, IMPRESSION_COLUMNS, "impressions")
    _require(engagements, ENGAGEMENT_COLUMNS, "engagements")
    _require(pins, PIN_COLUMNS, "pins")
    posted = engagements[engagements["action"].isin(ACTIONS)].drop_duplicates(list(ENGAGEMENT_COLUMNS))
    earned = (
        pd.crosstab([posted["request_id"], posted["pin_id"]], posted["action"])
        .reindex(columns=list(ACTIONS), fill_value=0)
        .astype(np.float64)
        .reset_index()
    )
    catalogue = pins.assign(creator_pin_count=pins.groupby("creator_id")["creator_id"].transform("size"))
    shown = impressions.merge(earned, on=["request_id", "pin_id"], how="left").merge(
        catalogue[["pin_id", "is_ad", "merchant_id", "created_at", "creator_pin_count"]], on="pin_id", how="left"
    )
    shown[list(ACTIONS)] = shown[list(ACTIONS)].fillna(0.0)
    age_days = (pd.to_datetime(shown["served_at"], utc=True) - pd.to_datetime(shown["created_at"], utc=True))
    utilities = stakeholder_utilities(
        {action: shown[action].to_numpy(dtype=np.float64) for action in ACTIONS},
        is_ad=shown["is_ad"].fillna(False).to_numpy(dtype=bool),
        is_shopping=shown["merchant_id"].notna().to_numpy(),
        creator_pin_count=shown["creator_pin_count"].fillna(0).to_numpy(dtype=np.float64),
        pin_age_days=(age_days.dt.total_seconds() / 86_400).fillna(0).to_numpy(dtype=np.float64),
    )
    user = shown["user_id"].astype("Int64").astype("string")
    return pd.DataFrame(
        {
            "arm": shown["arm"].fillna(NO_ARM).astype(str),
            "unit": ("user " + user).fillna("page " + shown["request_id"].astype(str)),
            "request_id": shown["request_id"].astype(str),
            **{action: shown[action].to_numpy() for action in ACTIONS},
            **utilities,
        }
    )


def arm_outcomes(
    impressions: pd.DataFrame,
    engagements: pd.DataFrame,
    pins: pd.DataFrame,
    *,
    arms: Sequence[str] = (),
    resamples: int = 2_000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per arm (those logged and ``arms``, NO_ARM first, then by name): users, pages and
    impressions, and for each of METRICS its value with ``{metric}_low`` and ``{metric}_high``, the
    95% bootstrap interval (NaN for an arm without impressions)."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    shown = impression_outcomes(impressions, engagements, pins)
    names = sorted(set(shown["arm"]) | set(arms), key=lambda arm: (arm != NO_ARM, arm))
    rng = np.random.default_rng(seed)
    return pd.DataFrame([_arm_row(arm, shown[shown["arm"] == arm], resamples, rng) for arm in names])


def _arm_row(arm: str, shown: pd.DataFrame, resamples: int, rng: np.random.Generator) -> dict[str, object]:
    """The arm's counts and each metric with its interval, from per-user sums."""
    per_unit = shown.groupby("unit").agg(
        impressions=("request_id", "size"),
        pages=("request_id", "nunique"),
        **{metric: (action, "sum") for metric, action in RATES.items()},
        **{name: (name, "sum") for name in UTILITIES},
    )
    row: dict[str, object] = {
        "arm": arm, "users": len(per_unit), "pages": int(per_unit["pages"].sum()),
        "impressions": int(per_unit["impressions"].sum()),
    }
    numerators = per_unit[list(METRICS)].to_numpy(dtype=np.float64)
    denominators = per_unit[["impressions"] * len(RATES) + ["pages"] * len(UTILITIES)].to_numpy(dtype=np.float64)
    values, lows, highs = _ratio_intervals(numerators, denominators, resamples, rng)
    for i, metric in enumerate(METRICS):
        row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = values[i], lows[i], highs[i]
    return row


def _ratio_intervals(
    numerators: np.ndarray, denominators: np.ndarray, resamples: int, rng: np.random.Generator, chunk: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: sum of numerators over sum of denominators, and its percentile bootstrap
    interval over rows (units x metrics in; NaN for every figure when there are no rows)."""
    units, metrics = numerators.shape
    if units == 0:
        nothing = np.full(metrics, np.nan)
        return nothing, nothing, nothing
    draws = []
    for start in range(0, resamples, chunk):
        # How often each unit is drawn in each resample: a bootstrap sample of the units.
        counts = rng.multinomial(units, np.full(units, 1.0 / units), size=min(chunk, resamples - start))
        draws.append((counts @ numerators) / (counts @ denominators))
    ratios = np.concatenate(draws)
    tail = (1 - LEVEL) / 2
    value = numerators.sum(axis=0) / denominators.sum(axis=0)
    return value, np.quantile(ratios, tail, axis=0), np.quantile(ratios, 1 - tail, axis=0)


def outcomes_markdown(table: pd.DataFrame) -> str:
    """``table`` (``arm_outcomes``) as a Markdown table: each metric as ``value [low, high]``."""
    header = ["arm", "users", "pages", "impressions", *METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in table.to_dict("records"):
        cells = [str(row["arm"]), str(row["users"]), str(row["pages"]), str(row["impressions"])]
        cells += [_interval(row[metric], row[f"{metric}_low"], row[f"{metric}_high"]) for metric in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _interval(value: float, low: float, high: float) -> str:
    return "no impressions" if np.isnan(value) else f"{value:.4f} [{low:.4f}, {high:.4f}]"


def outcomes_figure(table: pd.DataFrame) -> Figure:
    """One panel per metric: each arm's value with its 95% interval as an error bar."""
    figure = Figure(figsize=(14, 6), dpi=100)
    axes = figure.subplots(2, 4).ravel()
    positions = np.arange(len(table))
    for axis, metric in zip(axes, METRICS):
        value = table[metric].to_numpy(dtype=np.float64)
        errors = np.clip(np.vstack([value - table[f"{metric}_low"], table[f"{metric}_high"] - value]), 0, None)
        axis.errorbar(positions, value, yerr=errors, fmt="o", capsize=4)
        axis.set_xticks(positions, table["arm"], rotation=30, ha="right", fontsize="small")
        axis.set_title(metric.replace("_", " ") if metric in RATES else f"{metric} utility per page")
        axis.grid(alpha=0.3)
    axes[-1].set_axis_off()
    figure.suptitle("experiment arms: outcomes with 95% intervals (bootstrap over users)")
    return figure
