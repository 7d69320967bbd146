"""Offline tuning of the utility weights (DESIGN.md section 1, utility blend).

Logged requests (each request's candidates with the ranker's head probabilities and the pin
attributes the blend needs) are replayed under every weight vector of a grid. Each replay ranks
every request's candidates by the blend, fills the page of ``k`` as the service does
(``models.page_selection.select_page``: one pin per near-duplicate image, at most
``max_per_creator`` of one creator; the log's candidates already leave out the user's exclusions),
and sums each stakeholder's utility over the page; the table averages those sums over requests. The chosen
weights maximize the pinner's average page utility among the grid points whose creator, merchant
and ad utilities reach their minimums.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.page_selection import select_page
from models.utility import PINNER_ACTION_VALUES, UtilityWeights, blend, stakeholder_utilities

REQUEST_COLUMNS = (
    "request_id", "pin_id", *PINNER_ACTION_VALUES, "is_ad", "is_shopping", "creator_pin_count", "pin_age_days",
    "creator_id", "image_signature",
)
# Optional: what the similarity priors added to each candidate's pinner utility when it was served
# (``models.similarity_prior``); a log without it was served without priors.
PRIOR_COLUMN = "similarity_prior"
STAKEHOLDERS = ("pinner", "creator", "merchant", "ad")
CONSTRAINED = ("creator", "merchant", "ad")
WEIGHT_COLUMNS = tuple(f"w_{name}" for name in CONSTRAINED)
DEFAULT_GRID = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Thresholds:
    """Minimum average page utilities of the creator, merchant and ad.

    With ``relative``, each minimum is a multiple of that stakeholder's utility at the
    unconstrained (pinner-only) optimum: ``creator=1.2`` asks for 20% more creator utility
    (and asks nothing of a stakeholder that optimum gives nothing, such as ads it never shows).
    """

    creator: float = 0.0
    merchant: float = 0.0
    ad: float = 0.0
    relative: bool = False

    def minimums(self, unconstrained: Mapping[str, float]) -> dict[str, float]:
        """Absolute minimums, given the utilities at the unconstrained optimum."""
        given = {name: float(getattr(self, name)) for name in CONSTRAINED}
        return {name: value * float(unconstrained[name]) for name, value in given.items()} if self.relative else given


@dataclass(frozen=True)
class TuningResult:
    """The chosen weights (None when no grid point is feasible), why, and the whole trade-off."""

    chosen: UtilityWeights | None
    reason: str
    minimums: dict[str, float]
    table: pd.DataFrame  # per grid point: w_creator, w_merchant, w_ad, pinner, creator, merchant, ad, feasible

    @property
    def feasible_count(self) -> int:
        return int(self.table["feasible"].sum())

    @property
    def chosen_utilities(self) -> dict[str, float] | None:
        """Average page utilities of the chosen weights on the tuning requests."""
        if self.chosen is None:
            return None
        row = self.table.loc[_row_of(self.table, self.chosen)]
        return {name: float(row[name]) for name in STAKEHOLDERS}


@dataclass(frozen=True)
class _Pages:
    """Requests as rows of padded (requests x most candidates) matrices, in logged order: a
    request's candidates fill the first ``lengths[row]`` columns of its row."""

    utilities: dict[str, np.ndarray]  # zero in padding, so padding adds nothing to a page
    lengths: np.ndarray
    creators: np.ndarray
    signatures: np.ndarray


def _pages(requests: pd.DataFrame) -> _Pages:
    missing = [column for column in REQUEST_COLUMNS if column not in requests.columns]
    if missing:
        raise ValueError(f"logged requests lack columns {missing}")
    if requests.empty:
        raise ValueError("no logged requests to replay")
    flat = stakeholder_utilities(
        {action: requests[action].to_numpy() for action in PINNER_ACTION_VALUES},
        is_ad=requests["is_ad"].to_numpy(),
        is_shopping=requests["is_shopping"].to_numpy(),
        creator_pin_count=requests["creator_pin_count"].to_numpy(),
        pin_age_days=requests["pin_age_days"].to_numpy(),
    )
    if PRIOR_COLUMN in requests.columns:
        flat["pinner"] = flat["pinner"] + requests[PRIOR_COLUMN].to_numpy(dtype=np.float64)
    row, _ = pd.factorize(requests["request_id"])
    # The position within the request keeps the logged candidate order, so ties break as in serving.
    col = requests.groupby(row, sort=False).cumcount().to_numpy()
    shape = (row.max() + 1, col.max() + 1)

    def matrix(values: np.ndarray, dtype: type) -> np.ndarray:
        padded = np.zeros(shape, dtype=dtype)
        padded[row, col] = values
        return padded

    return _Pages(
        utilities={name: matrix(flat[name], np.float64) for name in STAKEHOLDERS},
        lengths=np.bincount(row),
        creators=matrix(requests["creator_id"].to_numpy(), np.int64),
        signatures=matrix(requests["image_signature"].to_numpy(), np.int64),
    )


def _page_means(pages: _Pages, weights: UtilityWeights, k: int, max_per_creator: int) -> dict[str, float]:
    scores = blend(pages.utilities, weights)
    totals = dict.fromkeys(STAKEHOLDERS, 0.0)
    for row, length in enumerate(pages.lengths.tolist()):
        page = select_page(
            scores[row, :length], signatures=pages.signatures[row, :length], creators=pages.creators[row, :length],
            k=k, max_per_creator=max_per_creator,
        )
        for name in STAKEHOLDERS:
            totals[name] += float(pages.utilities[name][row, page].sum())
    return {name: total / len(pages.lengths) for name, total in totals.items()}


def page_utilities(
    requests: pd.DataFrame, *, weights: UtilityWeights, k: int, max_per_creator: int
) -> dict[str, float]:
    """Each stakeholder's utility summed over the page the service would fill, averaged over requests."""
    _check_page(k, max_per_creator)
    return _page_means(_pages(requests), weights, k, max_per_creator)


def _check_page(k: int, max_per_creator: int) -> None:
    if k < 1:
        raise ValueError(f"page size k must be >= 1, got {k}")
    if max_per_creator < 1:
        raise ValueError(f"max_per_creator must be >= 1, got {max_per_creator}")


def _grid_weights(grid: Mapping[str, Sequence[float]] | None) -> list[UtilityWeights]:
    grid = grid or {}
    unknown = sorted(set(grid) - set(CONSTRAINED))
    if unknown:
        raise ValueError(f"grid names {unknown} are not among {list(CONSTRAINED)}")
    axes = [sorted(set(map(float, grid.get(name, DEFAULT_GRID)))) for name in CONSTRAINED]
    if not all(axes):
        raise ValueError("every grid axis needs at least one weight")
    return [UtilityWeights(*point) for point in itertools.product(*axes)]


def _best(table: pd.DataFrame) -> object | None:
    """Index of the row with the most pinner utility; ties go to the smallest weights."""
    if table.empty:
        return None
    ranked = table.assign(weight_sum=table[list(WEIGHT_COLUMNS)].sum(axis=1)).sort_values(
        ["pinner", "weight_sum", *WEIGHT_COLUMNS], ascending=[False, True, True, True, True], kind="stable"
    )
    return ranked.index[0]


def _row_of(table: pd.DataFrame, weights: UtilityWeights) -> object:
    match = np.logical_and.reduce([table[f"w_{name}"] == value for name, value in weights.as_dict().items()])
    return table.index[match][0]


def _weights_of(row: pd.Series) -> UtilityWeights:
    return UtilityWeights(**{name: float(row[f"w_{name}"]) for name in CONSTRAINED})


def _infeasible_reason(table: pd.DataFrame, minimums: dict[str, float]) -> str:
    short = [
        f"{name} reaches at most {table[name].max():.4g} < {minimum:.4g}"
        for name, minimum in minimums.items()
        if table[name].max() < minimum
    ]
    if short:
        return "infeasible: on this grid " + "; ".join(short)
    return "infeasible: each minimum is reached somewhere on the grid, but no weights reach all at once"


def tune_weights(
    requests: pd.DataFrame,
    *,
    k: int,
    max_per_creator: int,
    thresholds: Thresholds,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> TuningResult:
    """Weights maximizing pinner page utility with creator, merchant and ad at their minimums.

    ``requests`` has the columns of ``REQUEST_COLUMNS``, one row per candidate in logged order;
    ``grid`` maps creator, merchant and ad to the weights to try (``DEFAULT_GRID`` for those left out).
    """
    _check_page(k, max_per_creator)
    pages = _pages(requests)
    rows = []
    for weights in _grid_weights(grid):
        means = _page_means(pages, weights, k, max_per_creator)
        rows.append({**{f"w_{name}": value for name, value in weights.as_dict().items()}, **means})
    table = pd.DataFrame(rows)
    unconstrained = table.loc[_best(table)]
    minimums = thresholds.minimums(unconstrained)
    table["feasible"] = np.logical_and.reduce([table[name] >= minimum for name, minimum in minimums.items()])
    best = _best(table[table["feasible"]])
    if best is None:
        return TuningResult(None, _infeasible_reason(table, minimums), minimums, table)
    chosen = table.loc[best]
    wanted = ", ".join(f"{name} >= {minimum:.4g}" for name, minimum in minimums.items())
    reason = (
        f"most pinner utility ({chosen['pinner']:.4g} per page; {unconstrained['pinner']:.4g} unconstrained) "
        f"among the {int(table['feasible'].sum())} of {len(table)} grid points with {wanted}"
    )
    return TuningResult(_weights_of(chosen), reason, minimums, table)


def plot_tradeoff(
    table: pd.DataFrame,
    chosen: UtilityWeights | None,
    path: Path,
    *,
    minimums: Mapping[str, float] | None = None,
) -> Path:
    """Save pinner utility against each other stakeholder's, one panel each, as a PNG at ``path``.

    Feasible grid points are coloured, each ``minimums`` entry shades its side of the axis, and
    the chosen weights are a star.
    """
    figure = Figure(figsize=(13, 4.2), layout="constrained")  # no pyplot: no global figure state
    axes = figure.subplots(1, len(CONSTRAINED), sharey=True)
    feasible = table["feasible"].to_numpy(dtype=bool)
    chosen_row = table.loc[_row_of(table, chosen)] if chosen is not None else None
    for ax, name in zip(axes, CONSTRAINED):
        ax.scatter(table.loc[~feasible, name], table.loc[~feasible, "pinner"], s=12, c="0.7", label="infeasible")
        ax.scatter(table.loc[feasible, name], table.loc[feasible, "pinner"], s=12, c="tab:blue", label="feasible")
        if minimums is not None:
            left, right = ax.get_xlim()
            ax.axvspan(minimums[name], max(right, minimums[name]), color="tab:green", alpha=0.1, label="minimum met")
            ax.axvline(minimums[name], color="tab:green", linestyle="--", linewidth=1)
            ax.set_xlim(min(left, minimums[name]), max(right, minimums[name]))
        if chosen_row is not None:
            ax.scatter(
                chosen_row[name], chosen_row["pinner"], marker="*", s=240, c="tab:red", edgecolors="black",
                label="chosen", zorder=3,
            )
        ax.set_xlabel(f"{name} utility per page")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("pinner utility per page")
    axes[0].legend(loc="best", fontsize="small")
    title = "no feasible weights" if chosen is None else "chosen " + ", ".join(
        f"{name}={value:g}" for name, value in chosen.as_dict().items()
    )
    figure.suptitle(f"utility trade-off over {len(table)} weight vectors: {title}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
