"""The offline evaluation in Dagster: ``corkboard evaluate`` reports each run as a materialization of
``offline_evaluation`` (its Markdown table and per-model figures; ``--funnel`` runs: the funnel's
tables and figures), so the UI shows it beside the assets. It is an external asset: no run
materializes it, so ``corkboard materialize`` never waits on an evaluation."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from dagster import AssetMaterialization, AssetSpec, DagsterInstance, MetadataValue

offline_evaluation = AssetSpec(
    "offline_evaluation",
    group_name="evaluation",
    description="corkboard evaluate: every model under one protocol (docs/evaluation.md); reported by the CLI.",
)


def evaluation_metadata(report: dict[str, Any], markdown: str, out: Path) -> dict[str, MetadataValue]:
    """The table as Markdown (with the validation curves inline where they were drawn), the report's
    path, the seeds, and each model's mean test figures as floats."""
    curves = out.with_name(f"{out.stem}_curves.png")
    if curves.exists():  # the Markdown names the PNG beside the report; the UI cannot reach that file
        inline = base64.b64encode(curves.read_bytes()).decode("ascii")
        markdown = markdown.replace(f"]({curves.name})", f"](data:image/png;base64,{inline})")
    metadata: dict[str, MetadataValue] = {
        "table": MetadataValue.md(markdown),
        "dataset": MetadataValue.text(report["protocol"]["dataset"]),
        "seeds": MetadataValue.json(report.get("seeds", [0])),
        "report": MetadataValue.path(str(out)),
    }
    for section in ("results", "ablations"):
        for name, metrics in report[section].items():
            for metric, value in metrics.items():
                metadata[f"{name}/{metric}"] = MetadataValue.float(float(value))
    if "all_action" in report:
        block = report["all_action"]
        for name, row in block["results"].items():
            metadata[f"all_action/{name}/recall@100"] = MetadataValue.float(float(row["recall@100"]))
        metadata["all_action/ratio"] = MetadataValue.float(float(block["ratio"]))
    return metadata


def record_evaluation(instance: DagsterInstance, report: dict[str, Any], markdown: str, out: Path) -> None:
    """Report one ``corkboard evaluate`` run as a materialization of ``offline_evaluation``."""
    _record(instance, f"corkboard evaluate --dataset {report['protocol']['dataset']}",
            evaluation_metadata(report, markdown, out))


def funnel_metadata(report: dict[str, Any], markdown: str, out: Path) -> dict[str, MetadataValue]:
    """The funnel's tables as Markdown, the report's path, and as floats each source's, stage's and
    served model's recall, each stage's latency and whether each target is met."""
    metadata: dict[str, MetadataValue] = {
        "evaluation": MetadataValue.text("funnel"),
        "table": MetadataValue.md(markdown),
        "dataset": MetadataValue.text(report["protocol"]["dataset"]),
        "users": MetadataValue.int(int(report["protocol"]["users"])),
        "report": MetadataValue.path(str(out)),
    }
    for section in ("sources", "stages", "models", "latency_ms"):
        for name, figures in report[section].items():
            for figure, value in figures.items():
                metadata[f"funnel/{section}/{name}/{figure}"] = MetadataValue.float(float(value))
    for target in ("page_vs_best_model", "ranked_union_holds_sources@500"):
        metadata[f"funnel/targets/{target}"] = MetadataValue.bool(bool(report["targets"][target]["met"]))
    return metadata


def record_funnel(instance: DagsterInstance, report: dict[str, Any], markdown: str, out: Path) -> None:
    """Report one ``corkboard evaluate --funnel`` run as a materialization of ``offline_evaluation``."""
    _record(instance, f"corkboard evaluate --funnel --dataset {report['protocol']['dataset']}",
            funnel_metadata(report, markdown, out))


def _record(instance: DagsterInstance, description: str, metadata: dict[str, MetadataValue]) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=offline_evaluation.key, description=description, metadata=metadata)
    )
