"""The benchmark's report: targets, a printed table and a generated block in docs/performance.md."""

from __future__ import annotations

import operator
import os
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import torch
from threadpoolctl import threadpool_info

Report = dict[str, Any]

# (section, figure, comparison, bound): DESIGN.md section 5 on this 2-core machine.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("service", "p50_ms", "<=", 10.0),
    ("service", "p99_ms", "<=", 20.0),
    ("service", "candidates_per_request", ">=", 500.0),
    ("ranker", "ratio_to_bare", "<=", 2.0),
    ("pixie", "steps_per_s", ">=", 5_000_000.0),
    ("pixie", "query_p99_ms", "<=", 20.0),
    ("ann", "recall_at_100", ">=", 0.95),
    ("service_2_clients", "rps", ">=", 120.0),
    ("service_2_clients", "p99_ms", "<=", 40.0),
)
# Start-up, memory and materialization targets hold for one world each (the speed issue's table).
WORLD_TARGETS: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "demo": (
        ("service", "startup_s", "<=", 10.0),
        ("service", "memory_mb_peak", "<=", 800.0),
        ("materialize", "seconds", "<=", 180.0),
        ("materialize", "peak_rss_gib", "<=", 3.0),
        ("materialize", "peak_pss_gib", "<=", 3.0),
    ),
    "large": (
        ("service", "startup_s", "<=", 30.0),
        ("materialize", "seconds", "<=", 1800.0),
        ("materialize", "peak_rss_gib", "<=", 8.0),
        ("materialize", "peak_pss_gib", "<=", 8.0),
    ),
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
}
NEW_DOC_HEADER = (
    "# Performance\n\nFigures written by `corkboard bench --update-docs`; each world's block is replaced by its next one.\n"
)


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was at the start."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "blas": blas(),
    }


def blas() -> str:
    """numpy's BLAS library, its version and the kernels it runs on this CPU (core/openblas_kernels.py)."""
    described = []
    for pool in threadpool_info():
        if pool["user_api"] == "blas":
            kernels = f", {pool['architecture']} kernels" if "architecture" in pool else ""
            described.append(f"{pool['internal_api']} {pool['version']}{kernels}")
    return "; ".join(described)


def target_checks(report: Report) -> list[dict[str, Any]]:
    """Each target of the report's world with the measured figure and whether it is met (None when
    not measured)."""
    checks = []
    for section, figure, comparison, bound in TARGETS + WORLD_TARGETS.get(report.get("world", ""), ()):
        value = report.get(section, {}).get(figure)
        met = None if value is None else bool(_COMPARE[comparison](value, bound))
        checks.append(
            {
                "section": section,
                "figure": figure,
                "target": f"{comparison} {bound:g}",
                "value": value,
                "met": met,
            }
        )
    return checks


def table(report: Report) -> str:
    """Every figure of every section, one per line, with its target where it has one."""
    targets = {
        (check["section"], check["figure"]): check for check in report["targets"]
    }
    lines = [f"{'section':<19}{'figure':<28}{'value':>16}  target"]
    for section, figures in report.items():
        if not isinstance(figures, dict) or section in ("machine",):
            continue
        for figure, value in _flat(figures):
            check = targets.get((section, figure))
            note = (
                f"{check['target']} {'met' if check['met'] else 'MISSED'}"
                if check
                else ""
            )
            lines.append(f"{section:<19}{figure:<28}{_text(value):>16}  {note}")
    return "\n".join(lines)


def _flat(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    flat = []
    for name, value in figures.items():
        if isinstance(value, dict):
            flat += _flat(value, f"{prefix}{name}.")
        else:
            flat.append((f"{prefix}{name}", value))
    return flat


def _text(value: Any) -> str:
    if isinstance(value, float):
        return (
            f"{value:,.3f}".rstrip("0").rstrip(".")
            if abs(value) < 1000
            else f"{value:,.0f}"
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown_block(report: Report) -> str:
    """The world's section of docs/performance.md: command, machine, targets and every figure."""
    world = report["world"]
    mach = report["machine"]
    lines = [
        f"<!-- bench:{world} -->",
        f"## `{world}` world",
        "",
        f"Command: `{report['command']}` ({report['date']}, {report['duration_s']:.0f} s).",
        f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB; Python {mach['python']}, torch "
        + f"{mach['torch']}; BLAS {mach['blas']}; 1-minute load average {mach['load_average_1m']} at the start.",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    for check in report["targets"]:
        met = "-" if check["met"] is None else ("yes" if check["met"] else "**no**")
        value = "not measured" if check["value"] is None else _text(check["value"])
        lines.append(f"| {check['section']} {check['figure']} {check['target']} | {value} | {met} |")
    lines += ["", "| section | figure | value |", "| --- | --- | --- |"]
    for section, figures in report.items():
        if isinstance(figures, dict) and section != "machine":
            lines += [
                f"| {section} | {figure} | {_text(value)} |"
                for figure, value in _flat(figures)
            ]
    lines.append(f"<!-- /bench:{world} -->")
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, report: Report) -> None:
    """Replace the world's block in ``path`` (created if missing), keeping the rest of the page."""
    block = markdown_block(report)
    world = re.escape(report["world"])
    text = path.read_text() if path.exists() else NEW_DOC_HEADER
    pattern = re.compile(
        rf"<!-- bench:{world} -->.*?<!-- /bench:{world} -->\n", re.DOTALL
    )
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
