"""The evaluation report: its JSON shape, and the Markdown tables written beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corkboard.evaluate.curves import curves_png
from corkboard.evaluate.grids import Setting
from models.all_action import K as ALL_ACTION_K
from models.leave_last_out import INTERACTIONS, KS, MIN_INTERACTIONS, NDCG_K, EvaluationSplit

METRICS = (*(f"recall@{k}" for k in KS), f"ndcg@{NDCG_K}")

Report = dict[str, Any]
Run = dict[str, Any]  # one model's fit at one seed: validation and test metrics, seconds, config, best epoch, curve


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


SECTIONS = ("results", "std", "ablations", "validation", "seconds", "configs", "settings", "epochs", "curves",
            "per_seed", "skipped")


def new_report(protocol: dict[str, Any], seeds: Sequence[int] = (0,)) -> Report:
    """A report with ``protocol``, the seeds every model is trained with, and no model in it yet."""
    return {"protocol": protocol, "seeds": list(seeds), **{section: {} for section in SECTIONS}}


def add_runs(
    report: Report,
    name: str,
    runs: Sequence[Run] | str,
    *,
    ablation: bool,
    setting: Setting | None = None,
    chosen_by: str = "",
) -> None:
    """File ``name``'s runs (one per seed) under ``results`` (or ``ablations``) as the mean test
    metrics, with their standard deviation under ``std`` and the per-model sections; or under
    ``skipped`` when ``runs`` is why it did not run."""
    if isinstance(runs, str):
        report["skipped"][name] = runs
        return
    report["ablations" if ablation else "results"][name] = _mean(run["test"] for run in runs)
    report["std"][name] = _std(run["test"] for run in runs)
    report["validation"][name] = _mean(run["validation"] for run in runs)
    report["seconds"][name] = _mean(run["seconds"] for run in runs)
    report["configs"][name] = runs[0]["config"]
    report["settings"][name] = {"setting": setting, "chosen_by": chosen_by}
    report["epochs"][name] = [run["best_epoch"] for run in runs]
    report["curves"][name] = [run["curve"] for run in runs]
    report["per_seed"][name] = [run["test"] for run in runs]


def _mean(rows: Any) -> dict[str, float]:
    rows = list(rows)
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def _std(rows: Any) -> dict[str, float]:
    """Sample standard deviation over seeds (0 for a single seed)."""
    rows = list(rows)
    return {key: float(np.std([row[key] for row in rows], ddof=1)) if len(rows) > 1 else 0.0 for key in rows[0]}


def curves_path(out: Path) -> Path:
    """The PNG of validation curves written beside the report ``out``."""
    return out.with_name(f"{out.stem}_curves.png")


def write_report(report: Report, out: Path) -> None:
    """``report`` as JSON at ``out``, as Markdown beside it (``.md``), and its models' validation
    curves as a PNG beside both when any model was trained in epochs."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    curves = {name: runs for name, runs in report["curves"].items() if any(runs)}
    if curves:
        title = f"validation score each model early-stops on, per epoch ({report['protocol']['dataset']})"
        curves_path(out).write_bytes(curves_png(curves, report["seeds"], title))
    out.with_suffix(".md").write_text(markdown_report(report, curves_path(out).name if curves else None))


def markdown_report(report: Report, curves_file: str | None = None) -> str:
    """The report's test metrics as Markdown tables (results, then ablations) of mean ± std over
    seeds, the settings and epochs, the curves' picture, and the skipped models."""
    protocol = report["protocol"]
    lines = [
        f"# Evaluation on {protocol['dataset']}",
        "",
        (
            f"{protocol['users']} users, {protocol['items']} items; test item per user, all items ranked, "
            f"history excluded; mean ± standard deviation over seeds {report['seeds']}; seconds = fit + score "
            "per seed."
        ),
        "",
        *_table(report["results"], report),
    ]
    if report["ablations"]:
        lines += ["", "## Ablations", "", *_table(report["ablations"], report)]
    lines += ["", "## Settings", "", *_settings_table(report)]
    if curves_file:
        lines += ["", f"![validation ndcg@{NDCG_K} per epoch]({curves_file})"]
    if "all_action" in report:
        lines += ["", *_all_action_table(report["all_action"])]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {name}: {reason}" for name, reason in report["skipped"].items()]
    return "\n".join(lines) + "\n"


def _table(rows: dict[str, dict[str, float]], report: Report) -> list[str]:
    lines = [
        "| model | " + " | ".join(METRICS) + f" | validation ndcg@{NDCG_K} | seconds |",
        "| --- |" + " ---: |" * (len(METRICS) + 2),
    ]
    for name, metrics in rows.items():
        seconds = sum(report["seconds"][name].values())
        cells = [f"{metrics[metric]:.4f} ± {report['std'][name][metric]:.4f}" for metric in METRICS]
        cells += [f"{report['validation'][name][f'ndcg@{NDCG_K}']:.4f}", f"{seconds:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _settings_table(report: Report) -> list[str]:
    lines = ["| model | setting | chosen by | kept epoch per seed |", "| --- | --- | --- | --- |"]
    for name, chosen in report["settings"].items():
        setting = ", ".join(f"{key}={value}" for key, value in (chosen["setting"] or {}).items()) or "defaults"
        if chosen["setting"] is None:
            setting = report["configs"][name] or "-"
        epochs = ", ".join("-" if epoch is None else str(epoch) for epoch in report["epochs"][name])
        lines.append(f"| {name} | {setting} | {chosen['chosen_by']} | {epochs} |")
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
    if "per_seed" in block:
        each = ", ".join(f"{row['ratio']:.3f} (seed {row['seed']})" for row in block["per_seed"])
        lines.append(
            f"Over seeds: {each}; mean {block['ratio_mean']:.3f} ± {block['ratio_std']:.3f} "
            f"(the table is seed {block['per_seed'][0]['seed']}'s)."
        )
    return lines
