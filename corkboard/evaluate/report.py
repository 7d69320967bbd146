"""The evaluation report: its JSON shape, and the Markdown tables written beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.all_action import K as ALL_ACTION_K
from models.leave_last_out import INTERACTIONS, KS, MIN_INTERACTIONS, NDCG_K, EvaluationSplit

METRICS = (*(f"recall@{k}" for k in KS), f"ndcg@{NDCG_K}")

Report = dict[str, Any]
Run = dict[str, Any]  # one model's validation and test metrics, seconds and config (and the chosen entry)


def describe_protocol(dataset: str, split: EvaluationSplit, interacting_users: int) -> dict[str, Any]:
    """What the figures mean, written into the report."""
    return {
        "dataset": dataset,
        "interaction": f"a user's first {'/'.join(INTERACTIONS)} event with a pin (MovieLens: one per rating)",
        "order": "per user by timestamp, ties by item id",
        "split": "last interaction = test, the one before = validation (early stopping and model choice only), "
        "the rest = training",
        "ranking": "all items; the user's history (training items, plus the validation item for test) excluded",
        "ties": "pessimistic: rank = 1 + items scoring at least as high as the held-out item",
        "metrics": list(METRICS),
        "users": split.n_users,
        "items": split.n_items,
        "training_interactions": int(sum(len(items) for items in split.train)),
        "dropped_users": interacting_users - split.n_users,
        "dropped_rule": f"users with fewer than {MIN_INTERACTIONS} interactions",
        "boards": "board edges from a user to their own validation or test item removed",
    }


def new_report(protocol: dict[str, Any]) -> Report:
    """A report with ``protocol`` and no model in it yet."""
    sections = ("results", "ablations", "validation", "seconds", "configs", "skipped")
    return {"protocol": protocol, **{section: {} for section in sections}}


def add_run(report: Report, name: str, run: Run | str, *, ablation: bool) -> None:
    """File ``name``'s run under ``results`` (or ``ablations``) and the per-model sections, or under
    ``skipped`` when ``run`` is why it did not run."""
    if isinstance(run, str):
        report["skipped"][name] = run
        return
    report["ablations" if ablation else "results"][name] = run["test"]
    report["validation"][name] = run["validation"]
    report["seconds"][name] = run["seconds"]
    report["configs"][name] = run["config"]
    if "chosen" in run:
        report.setdefault("chosen", {})[name] = run["chosen"]


def write_report(report: Report, out: Path) -> None:
    """``report`` as JSON at ``out`` and as Markdown beside it (``.md``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_report(report))


def markdown_report(report: Report) -> str:
    """The report's test metrics as Markdown tables (results, then ablations), with skipped models."""
    protocol = report["protocol"]
    lines = [
        f"# Evaluation on {protocol['dataset']}",
        "",
        (
            f"{protocol['users']} users, {protocol['items']} items; test item per user, all items ranked, "
            "history excluded; seconds = fit + score."
        ),
        "",
        *_table(report["results"], report),
    ]
    if report["ablations"]:
        lines += ["", "## Ablations", "", *_table(report["ablations"], report)]
    if "all_action" in report:
        lines += ["", *_all_action_table(report["all_action"])]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {name}: {reason}" for name, reason in report["skipped"].items()]
    return "\n".join(lines) + "\n"


def _table(rows: dict[str, dict[str, float]], report: Report) -> list[str]:
    lines = [
        "| model | " + " | ".join(METRICS) + " | validation ndcg@10 | seconds |",
        "| --- |" + " ---: |" * (len(METRICS) + 2),
    ]
    for name, metrics in rows.items():
        seconds = sum(report["seconds"][name].values())
        cells = [f"{metrics[metric]:.4f}" for metric in METRICS]
        cells += [f"{report['validation'][name][f'ndcg@{NDCG_K}']:.4f}", f"{seconds:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _all_action_table(block: dict[str, Any]) -> list[str]:
    protocol, recall = block["protocol"], f"recall@{ALL_ACTION_K}"
    lines = [
        f"## All-action {recall} (PinnerFormer protocol)",
        "",
        (
            f"Windows of {protocol['window_days']:g} days after {protocol['cutoffs']['validation']} (validation) and "
            f"{protocol['cutoffs']['test']} (test); {protocol['users']['test']} test users; models trained before the "
            "validation cut-off; history pins excluded."
        ),
        "",
        f"| model | test {recall} | validation {recall} | seconds | chosen |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, row in block["results"].items():
        seconds = sum(row["seconds"].values())
        lines.append(
            f"| {name} | {row[recall]:.4f} | {row[f'validation_{recall}']:.4f} | {seconds:.1f} | {row['config']} |"
        )
    lines += ["", f"PinnerFormer / PinnerSage: {block['ratio']:.3f} (the paper: {block['paper_ratio']:.3f})."]
    return lines
