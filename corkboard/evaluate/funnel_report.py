"""The funnel report: figures from every held-out user's outcome, the targets they meet, and the
Markdown tables written beside the JSON."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corkboard.evaluate.funnel_outcome import HISTORY_SLOTS, UserOutcome
from corkboard.evaluate.funnel_prior import prior_markdown, prior_sweep
from models.leave_last_out import NDCG_K, metrics_from_ranks
from service.stages import STAGES

SOURCE_KS = (100, 500)
RANKED_KS = (10, 25, 100, 500)
PAGE_KS = (10, 25, 100)
# Of the held-out items some source finds in its top 500, the ranked candidates' top 500 hold this share.
UNION_SHARE_TARGET = 0.9
LATENCY_STAGES = (*STAGES, "user_vector", "total")


def funnel_figures(outcomes: list[UserOutcome], prior_weights: Mapping[str, float]) -> dict[str, Any]:
    """Recall per source, per stage and per served model, latency per stage, what held items back,
    the similarity priors' weights (``prior_weights`` served), and the targets."""
    ranked = np.array([outcome.ranked_rank for outcome in outcomes])
    page = np.array([outcome.page_rank for outcome in outcomes])
    sources = _sources(outcomes, page)
    stages = {
        "candidates": {
            "candidates": float(np.mean([outcome.union_size for outcome in outcomes])),
            **metrics_from_ranks(ranked, RANKED_KS),
            "recall": float(np.mean(ranked < math.inf)),
        },
        "page": metrics_from_ranks(page, PAGE_KS),
    }
    models = {
        name: metrics_from_ranks(np.array([outcome.model_ranks[name] for outcome in outcomes]), PAGE_KS)
        for name in outcomes[0].model_ranks
    }
    return {
        "sources": sources,
        "stages": stages,
        "models": models,
        "priors": prior_sweep([outcome.prior_ranks for outcome in outcomes], prior_weights),
        "latency_ms": _latency(outcomes),
        "diagnostics": _diagnostics(outcomes),
        "targets": _targets(outcomes, ranked, stages["page"], models, sources),
    }


def _source_ranks(outcomes: list[UserOutcome], source: str) -> np.ndarray:
    return np.array([outcome.source_ranks.get(source, math.inf) for outcome in outcomes])


def _sources(outcomes: list[UserOutcome], page: np.ndarray) -> dict[str, dict[str, float]]:
    """Per source: mean candidates, recall@K in its own order and over all it proposed, and the
    held-out items it alone proposed (and of those, the ones the page kept in its top 100)."""
    names = sorted({source for outcome in outcomes for source in outcome.source_ranks})
    figures = {}
    for source in names:
        ranks = _source_ranks(outcomes, source)
        alone = np.array([outcome.proposed_only_by(source) for outcome in outcomes])
        figures[source] = {
            "candidates": float(np.mean([outcome.source_sizes.get(source, 0) for outcome in outcomes])),
            "users": int(sum(source in outcome.source_sizes for outcome in outcomes)),
            **{f"recall@{k}": float(np.mean(ranks <= k)) for k in SOURCE_KS},
            "recall": float(np.mean(ranks < math.inf)),
            "unique": float(np.mean(alone)),
            "unique_on_page@100": float(np.mean(alone & (page <= PAGE_KS[-1]))),
        }
    return figures


def _latency(outcomes: list[UserOutcome]) -> dict[str, dict[str, float]]:
    """p50 and p99 milliseconds of each traced stage over the requests that ran it."""
    latency = {}
    for stage in LATENCY_STAGES:
        values = [outcome.seconds[stage] * 1000 for outcome in outcomes if stage in outcome.seconds]
        if values:
            p50, p99 = np.percentile(values, [50, 99])
            latency[stage] = {"requests": len(values), "p50": float(p50), "p99": float(p99)}
    return latency


def _diagnostics(outcomes: list[UserOutcome]) -> dict[str, Any]:
    """What kept held-out items off the funnel before any source ran, and what the service reported."""
    return {
        "held_out_excluded": sum(outcome.excluded for outcome in outcomes),
        "held_out_outside_catalogue": sum(outcome.outside_catalogue for outcome in outcomes),
        "fallbacks": dict(Counter(outcome.fallback for outcome in outcomes if outcome.fallback)),
        "degraded_requests": sum(outcome.degraded for outcome in outcomes),
        f"history_share_of_page@{HISTORY_SLOTS}": float(
            np.mean([outcome.history_on_page for outcome in outcomes]) / HISTORY_SLOTS
        ),
    }


def _targets(
    outcomes: list[UserOutcome],
    ranked: np.ndarray,
    page: dict[str, float],
    models: dict[str, dict[str, float]],
    sources: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The page against the best served model; the ranked candidates against what the sources find
    in their top 500; each source's verdict."""
    best = {
        metric: max(((name, figures[metric]) for name, figures in models.items()), key=lambda item: item[1])
        for metric in ("recall@10", f"ndcg@{NDCG_K}")
    }
    found = np.min([_source_ranks(outcomes, source) for source in sources], axis=0) <= SOURCE_KS[-1]
    held = found & (ranked <= SOURCE_KS[-1])
    share = float(held.sum() / found.sum()) if found.any() else None
    return {
        "page_vs_best_model": {
            "page": {metric: page[metric] for metric in best},
            "best": {metric: {"model": name, "value": value} for metric, (name, value) in best.items()},
            "met": all(page[metric] >= value for metric, (_, value) in best.items()),
        },
        "ranked_union_holds_sources@500": {
            "found_by_a_source": int(found.sum()), "held": int(held.sum()), "share": share,
            "target": UNION_SHARE_TARGET, "met": share is not None and share >= UNION_SHARE_TARGET,
        },
        "sources": {source: _verdict(source, figures, len(outcomes)) for source, figures in sources.items()},
    }


def _verdict(source: str, figures: dict[str, float], users: int) -> str:
    """Keep a source that alone proposed some held-out item; otherwise recommend dropping it."""
    alone = round(figures["unique"] * users)
    on_page = round(figures["unique_on_page@100"] * users)
    if source == "popular":
        return f"fallback for users without candidates; alone proposed {alone} held-out items"
    if alone:
        share = f"{figures['unique']:.1%}"
        return f"keep: alone proposed {alone} of {users} held-out items ({share}), {on_page} on the page@100"
    return (
        f"drop from the default home feed: every held-out item it proposed ({figures['recall']:.1%}) "
        "another source proposed too"
    )


def write_funnel_report(report: dict[str, Any], out: Path) -> str:
    """Write ``out`` (JSON) and its Markdown beside it; returns the Markdown."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, allow_nan=False))
    markdown = funnel_markdown(report)
    out.with_suffix(".md").write_text(markdown)
    return markdown


def funnel_markdown(report: dict[str, Any]) -> str:
    """The report's tables: sources, stages, served models, latency, then the targets."""
    protocol, verdicts = report["protocol"], report["targets"]["sources"]
    candidates, page = report["stages"]["candidates"], report["stages"]["page"]
    source_keys = (*(f"recall@{k}" for k in SOURCE_KS), "recall", "unique", "unique_on_page@100")
    ranked_keys = (*(f"recall@{k}" for k in RANKED_KS), "recall", "ndcg@10")
    page_keys = tuple(f"recall@{k}" for k in PAGE_KS)
    lines = [
        f"# Funnel: {protocol['dataset']}, {protocol['users']} held-out users, pinner-only weights",
        "",
        _row("source", "candidates", *source_keys[:2], "recall (all)", "unique", "unique on page@100", "verdict"),
        _row("---", *["---:"] * 6, "---"),
        *(
            _row(source, f"{row['candidates']:.0f}", *_figures(row, source_keys), verdicts[source])
            for source, row in report["sources"].items()
        ),
        "",
        _row("stage", "candidates", *ranked_keys[:4], "recall (all)", "ndcg@10"),
        _row("---", *["---:"] * 7),
        _row("all candidates, ranker order (pinner utility)", f"{candidates['candidates']:.0f}",
             *_figures(candidates, ranked_keys)),
        _row("page (blend, near-duplicates, creator cap)", str(protocol["page_k"]),
             *_figures(page, page_keys), "", "", f"{page['ndcg@10']:.4f}"),
        "",
        _row("served model, every pin ranked", *page_keys, "ndcg@10"),
        _row("---", *["---:"] * 4),
        *(_row(name, *_figures(row, (*page_keys, "ndcg@10"))) for name, row in report["models"].items()),
        "",
        *prior_markdown(report["priors"]),
        "",
        _row("stage", "requests", "p50 ms", "p99 ms"),
        _row("---", *["---:"] * 3),
        *(
            _row(stage, str(row["requests"]), f"{row['p50']:.1f}", f"{row['p99']:.1f}")
            for stage, row in report["latency_ms"].items()
        ),
        "",
        *_target_lines(report["targets"]),
        "",
        f"Diagnostics: {json.dumps(report['diagnostics'])}. Cut: {json.dumps(protocol['removed'])}.",
        "",
    ]
    return "\n".join(lines)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _figures(row: dict[str, float], keys: Sequence[str]) -> list[str]:
    return [f"{row[key]:.4f}" for key in keys]


def _target_lines(targets: dict[str, Any]) -> list[str]:
    """The two quality targets as sentences, met or not."""
    versus, union = targets["page_vs_best_model"], targets["ranked_union_holds_sources@500"]
    best, page = versus["best"], versus["page"]
    share = "no item found" if union["share"] is None else f"{union['share']:.1%}"
    return [
        f"- Page at least the best served model (recall@10 {page['recall@10']:.4f} against "
        f"{best['recall@10']['model']} {best['recall@10']['value']:.4f}; ndcg@10 {page['ndcg@10']:.4f} against "
        f"{best['ndcg@10']['model']} {best['ndcg@10']['value']:.4f}): **{_met(versus['met'])}**.",
        f"- The ranked candidates' top 500 hold {union['held']} of the {union['found_by_a_source']} held-out "
        f"items some source finds in its top 500 ({share}, target {union['target']:.0%}): **{_met(union['met'])}**.",
    ]


def _met(met: bool) -> str:
    return "met" if met else "not met"
