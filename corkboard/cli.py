"""The ``corkboard`` command: materialize, growth, serve, ui, users, recommend, related, search, tune, evaluate, bench,
features, rollback, export-world, api-key."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from core.api_keys import Scope
from core.openblas_kernels import prefer_kernels_by_flags
from core.settings import get_settings


def _materialize(args: argparse.Namespace) -> int:
    from corkboard.materialize import materialize_world

    folder = Path(args.world)
    if folder.is_dir() and get_settings().source_root is None:
        # A folder named on the command line is the operator's own choice; runs launched from the UI
        # stay confined to CORKBOARD_SOURCE_ROOT (else the data dir).
        os.environ["CORKBOARD_SOURCE_ROOT"] = str(folder.resolve())
        get_settings.cache_clear()
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if args.profile is None:
        materialize_world(args.world, progress=progress)
        return 0
    from corkboard.bench.asset_profile import profiled_materialization

    profile = profiled_materialization(args.world, progress=progress)
    args.profile.parent.mkdir(parents=True, exist_ok=True)
    args.profile.write_text(json.dumps(profile, indent=2) + "\n")
    progress(f"per-step seconds and peak memory: {args.profile}")
    return 0


def _growth(args: argparse.Namespace) -> int:
    from corkboard.bench.asset_profile import growth_table

    print(growth_table([json.loads(path.read_text()) for path in args.profiles]), end="")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from service.server import serve

    print(f"API docs: http://{args.host}:{args.port}/docs", file=sys.stderr, flush=True)
    serve(host=args.host, port=args.port, workers=args.workers, log_level=args.log_level)
    return 0


def _ui(args: argparse.Namespace) -> int:
    from corkboard.materialize import dagster_instance

    dagster_instance()  # sets DAGSTER_HOME under the data dir
    command = ["dagster", "dev", "-m", "orchestration.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI: http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    return subprocess.call([os.path.join(os.path.dirname(sys.executable), command[0]), *command[1:]])


def _users(args: argparse.Namespace) -> int:
    from sql.migrate import migrated_engine
    from sql.catalogue import user_ids

    with migrated_engine().connect() as conn:
        for user_id in user_ids(conn, limit=args.limit):
            print(user_id)
    return 0


def _page(args: argparse.Namespace) -> int:
    """recommend, related and search: the same JSON as the REST API, through the same pipeline."""
    from service.served_weights import WeightsOverride
    from service.state_loading import NotReadyError, open_serving_state
    from service.surfaces.home_feed import home_feed
    from service.surfaces.related_pins import UnknownPinError, related_pins
    from service.surfaces.search import search

    try:
        weights = WeightsOverride.parse(args.weights) if args.weights else None
        if args.command == "search" and not args.text.strip():
            raise ValueError("the query is empty")
        state = open_serving_state(get_settings())
        if args.command == "recommend":
            page = home_feed(state, user_id=args.user, k=args.k, weights=weights)
        elif args.command == "related":
            page = related_pins(state, pin_id=args.pin, k=args.k, weights=weights)
        else:
            page = search(state, query=args.text, k=args.k, weights=weights)
    except (ValueError, NotReadyError, UnknownPinError) as error:
        print(f"corkboard {args.command}: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    print(page.model_dump_json(indent=2))
    return 0


def _tune(args: argparse.Namespace) -> int:
    import pandas as pd

    from corkboard.tuning import tune
    from models.logged_tuning import tune_logged
    from models.utility_tuner import Thresholds
    from service.state_loading import NotReadyError, open_serving_state
    from sql.catalogue import user_ids

    settings = get_settings()
    out_dir = args.out_dir or settings.data_dir / "tuning"
    thresholds = Thresholds(creator=args.min_creator, merchant=args.min_merchant, ad=args.min_ad, relative=args.relative)
    common = {"k": args.k, "out_dir": out_dir, "holdout_fraction": args.holdout, "seed": args.seed}
    try:
        if args.replay:
            summary = tune_logged(
                pd.read_parquet(args.replay), thresholds=thresholds, max_per_creator=settings.max_pins_per_creator,
                **common,
            )
        else:
            state = open_serving_state(settings)
            with state.engine.connect() as conn:
                users = user_ids(conn, limit=args.users)
            summary = tune(
                state=state, users=users, min_creator=args.min_creator, min_merchant=args.min_merchant,
                min_ad=args.min_ad, relative=args.relative, **common,
            )
    except (ValueError, NotReadyError) as error:
        print(f"corkboard tune: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    if args.apply and summary["chosen"] is not None:
        summary["applied"] = _apply_default_weights(summary["chosen"])
    print(json.dumps(summary, indent=2))
    if args.apply and summary["chosen"] is None:
        print("corkboard tune: no feasible weights, nothing applied", file=sys.stderr)
    return 0 if summary["chosen"] is not None else 3


def _apply_default_weights(chosen: dict[str, float]) -> dict[str, dict[str, float]]:
    """Store ``chosen`` as the default weights (what ``PUT /v1/utility-weights`` does), say so on
    stderr, and return the weights before and after."""
    from models.utility import UtilityWeights
    from sql.migrate import migrated_engine
    from sql.utility_weights import DEFAULT_WEIGHTS, default_weights, put_weights

    after = UtilityWeights(**chosen)
    with migrated_engine().begin() as conn:
        before = default_weights(conn)
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=after)
    print(f"corkboard tune: default weights {before.as_dict()} -> {after.as_dict()}", file=sys.stderr)
    return {"before": before.as_dict(), "after": after.as_dict()}


def _evaluate(args: argparse.Namespace) -> int:
    from corkboard.evaluate.report import curves_path, markdown_report
    from corkboard.evaluate.run import evaluate
    from corkboard.evaluate.tune import tune
    from corkboard.materialize import dagster_instance
    from orchestration.assets.offline_evaluation import record_evaluation

    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.tune and args.funnel:
            raise ValueError("--funnel and --tune are separate runs")
        if args.validation and not args.funnel:
            raise ValueError("--validation is a stage of --funnel")
        if args.tune:
            tune(args.dataset, models=args.models, progress=progress)
            return 0
        if args.out is None:
            raise ValueError("--out is required unless --tune")
        if args.funnel:
            from corkboard.evaluate.funnel import run_funnel
            from corkboard.evaluate.funnel_report import funnel_markdown
            from orchestration.assets.offline_evaluation import record_funnel

            if args.models is not None:
                raise ValueError("--funnel measures the served models; --models does not apply")
            funnel = run_funnel(args.dataset, args.out, validation=args.validation, progress=progress)
            record_funnel(dagster_instance(), funnel, funnel_markdown(funnel), args.out)  # beside the model tables
            return 0
        report = evaluate(args.dataset, args.out, models=args.models, seeds=args.seeds, progress=progress)
    except ValueError as error:
        print(f"corkboard evaluate: {error}", file=sys.stderr)
        return 2
    curves = curves_path(args.out)
    markdown = markdown_report(report, curves.name if curves.exists() else None)
    record_evaluation(dagster_instance(), report, markdown, args.out)  # the UI's offline_evaluation
    return 0


def _seeds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are comma-separated integers, e.g. 0,1,2; got {text!r}") from None


def _bench(args: argparse.Namespace) -> int:
    import shlex

    from corkboard.bench.report import write_markdown
    from corkboard.bench.run import BenchConfig, run_bench

    try:
        config = BenchConfig(
            requests=args.requests, concurrency=tuple(args.concurrency), warmup=args.warmup, workers=args.workers
        )
        report = run_bench(
            args.world, out=args.out, config=config,
            command=shlex.join(["corkboard", *sys.argv[1:]]),
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except (ValueError, RuntimeError) as error:
        print(f"corkboard bench: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    if args.update_docs:  # only when asked: a plain run leaves the checkout clean
        write_markdown(args.doc, report)
    return 0


def _features(args: argparse.Namespace) -> int:
    from features.store import feature_store, online_features

    frame = online_features(feature_store(get_settings()), user_ids=[args.user])
    row = json.loads(frame.to_json(orient="records", date_format="iso"))[0]  # NaN -> null
    print(json.dumps(row, indent=2))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from sql.migrate import migrated_engine
    from corkboard.rollback import roll_back
    from sql.versions import NoPreviousVersionError

    try:
        with migrated_engine().begin() as conn:  # one transaction: every kind swaps, or none
            done = roll_back(conn, kind=args.kind)
    except (NoPreviousVersionError, FileNotFoundError) as error:
        print(f"corkboard rollback: {error}; nothing changed", file=sys.stderr)
        return 1
    for rollback in done:
        print(rollback.describe())
    print("running services keep what they loaded until POST /v1/admin/reload or a restart", file=sys.stderr)
    return 0


def _export_world(args: argparse.Namespace) -> int:
    from core.sources import SourceError
    from core.sources.cache import cached_world
    from core.sources.export import export_world

    try:
        world, report = cached_world(args.world, get_settings().source_dir)
        written = export_world(world, args.out, args.format)
    except (SourceError, FileExistsError) as error:
        print(f"corkboard export-world: {error}", file=sys.stderr)
        return 1
    if report.total:  # a folder's bad rows are left out of the copy; say so
        print(report.as_markdown(), file=sys.stderr)
    for path in written:
        print(path)
    return 0


def _api_key_new(args: argparse.Namespace) -> int:
    """Print a fresh key once, and the entry that stores only its digest."""
    from core.api_keys import new_api_key

    try:
        key, configured = new_api_key(args.name, args.scopes)
    except ValueError as error:
        print(f"corkboard api-key new: {error}", file=sys.stderr)
        return 2
    print(f"X-API-Key: {key}")
    print(f"CORKBOARD_API_KEYS entry: {configured.entry()}")
    print(
        "the key is shown this once and stored nowhere; add the entry to CORKBOARD_API_KEYS "
        "(comma-separated: keep an old entry beside it until its callers have moved, then drop it)",
        file=sys.stderr,
    )
    return 0


def _scopes(text: str) -> list[Scope]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not set(names) <= set(Scope):
        raise argparse.ArgumentTypeError(f"give one or more of {', '.join(Scope)}, comma-separated")
    return [Scope(name) for name in names]


def _report_file(text: str) -> Path:
    """A report's path, refused up front when it names a folder (the run would fail only at its end)."""
    path = Path(text)
    if path.is_dir():
        example = path / "report.json"
        raise argparse.ArgumentTypeError(f"{text} is a folder; give the report's file name, e.g. {example}")
    return path


def _positive_k(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("k must be between 1 and 500")
    return value


def _positive_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corkboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    materialize = commands.add_parser("materialize", help="build every asset for a world")
    materialize.add_argument("--world", default=get_settings().world, help="tiny, demo, large, ml100k or a folder")
    materialize.add_argument(
        "--profile", type=_report_file, metavar="FILE.json",
        help="also write each asset step's seconds and peak memory, and the world's event count, to FILE.json",
    )
    materialize.set_defaults(run=_materialize)

    growth = commands.add_parser(
        "growth", help="print each asset step's cost per world and how it grows with the events (Markdown)"
    )
    growth.add_argument("profiles", type=Path, nargs="+", metavar="PROFILE.json", help="materialize --profile files")
    growth.set_defaults(run=_growth)

    for name, run, port, help_text in (
        ("serve", _serve, 8000, "start the REST API"),
        ("ui", _ui, 3000, "start the Dagster UI on corkboard's definitions"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=port)
        command.set_defaults(run=run)
    serving = commands.choices["serve"]
    serving.add_argument(
        "--workers", type=_positive_count, default=get_settings().api_workers,
        help="server processes sharing the port, each loading the serving state (CORKBOARD_API_WORKERS)",
    )
    serving.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")

    users = commands.add_parser("users", help="print user ids, most active first")
    users.add_argument("--limit", type=int, default=10)
    users.set_defaults(run=_users)

    for name, target, target_type, help_text in (
        ("recommend", "user", int, "print a user's home feed as JSON"),
        ("related", "pin", int, "print pins related to a pin as JSON"),
        ("search", "text", str, "print pins matching a query as JSON"),
    ):
        page = commands.add_parser(name, help=help_text)
        page.add_argument(target, type=target_type)
        page.add_argument("--k", type=_positive_k, default=10)
        page.add_argument("--weights", help="e.g. creator=1.5,merchant=0,ad=0")
        page.set_defaults(run=_page)

    tuning = commands.add_parser("tune", help="pick utility weights on logged requests; print a JSON summary")
    tuning.add_argument("--users", type=int, default=300, help="log one request for each of this many users")
    tuning.add_argument("--replay", type=Path, help="tune on a requests.parquet of an earlier run instead")
    for name in ("creator", "merchant", "ad"):
        tuning.add_argument(f"--min-{name}", type=float, default=0.0, help=f"minimum {name} utility per page")
    tuning.add_argument("--relative", action="store_true", help="minimums are multiples of the pinner-only page's")
    tuning.add_argument("--k", type=_positive_k, default=10)
    tuning.add_argument("--holdout", type=float, default=0.3, help="share of requests held out to check the choice")
    tuning.add_argument("--seed", type=int, default=0)
    tuning.add_argument("--out-dir", type=Path, help="default: DATA_DIR/tuning")
    tuning.add_argument(
        "--apply", action="store_true", help="store the chosen weights as the default served (printing before and after)"
    )
    tuning.set_defaults(run=_tune)

    evaluation = commands.add_parser("evaluate", help="rank all items for each user's held-out interaction; JSON + Markdown")
    evaluation.add_argument("--dataset", choices=("ml100k", "tiny", "demo"), default="ml100k")
    evaluation.add_argument("--out", type=_report_file, help="report JSON; the Markdown table is written beside it")
    evaluation.add_argument("--models", nargs="+", metavar="NAME", help="default: every registered model but the ablations")
    evaluation.add_argument("--seeds", type=_seeds, default=[0], help="train each model once per seed, e.g. 0,1,2")
    evaluation.add_argument(
        "--tune", action="store_true",
        help="search each model's grid on the validation items only and record the choices for later runs",
    )
    evaluation.add_argument(
        "--funnel", action="store_true",
        help="hold out each user's last interaction, materialize the rest and serve them home feeds: "
        "recall per candidate source, ranked candidates and page, latency per stage (DATA_DIR/funnel/DATASET)",
    )
    evaluation.add_argument(
        "--validation", action="store_true",
        help="with --funnel: hold out the validation items instead (the last two cut), to choose serving "
        "settings on; DATA_DIR/funnel/DATASET-validation",
    )
    evaluation.set_defaults(run=_evaluate)

    bench = commands.add_parser(
        "bench", help="measure the service and its parts against their targets; JSON, and the docs with --update-docs"
    )
    bench.add_argument("--world", choices=("tiny", "demo", "large"), default="demo", help="materialized first if needed")
    bench.add_argument("--out", type=_report_file, required=True, help="report JSON")
    bench.add_argument("--update-docs", action="store_true", help="replace the world's block in --doc with this run")
    bench.add_argument("--doc", type=Path, default=Path("docs/performance.md"), help="page that --update-docs writes")
    bench.add_argument("--requests", type=int, default=2000, help="measured home-feed requests")
    bench.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 2],
        help="closed-loop clients, one load test each; latency targets are checked on the first",
    )
    bench.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    bench.add_argument(
        "--workers", type=_positive_count, default=get_settings().api_workers,
        help="server processes, as corkboard serve --workers (CORKBOARD_API_WORKERS)",
    )
    bench.set_defaults(run=_bench)

    features = commands.add_parser("features", help="print a user's online features as JSON")
    features.add_argument("user", type=int)
    features.set_defaults(run=_features)

    rollback = commands.add_parser("rollback", help="serve the previous version of each kind again (or of --kind)")
    rollback.add_argument("--kind", help="pin_embedding, pin_text, ranker, ...; default: each kind with a previous one")
    rollback.set_defaults(run=_rollback)

    export = commands.add_parser("export-world", help="write a world as a folder of files that --world accepts (docs/data.md)")
    export.add_argument("--world", default=get_settings().world, help="tiny, demo, large, ml100k or a folder")
    export.add_argument("--out", type=Path, required=True, help="an empty or new folder")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.set_defaults(run=_export_world)

    api_key = commands.add_parser("api-key", help="make API keys").add_subparsers(dest="action", required=True)
    new_key = api_key.add_parser("new", help="print a fresh key once and its CORKBOARD_API_KEYS entry")
    new_key.add_argument("--scopes", type=_scopes, required=True, help="read, events, admin; comma-separated")
    new_key.add_argument("--name", default=f"key-{date.today():%Y%m%d}", help="named in 403 answers; default: key-DATE")
    new_key.set_defaults(run=_api_key_new)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster, Feast and pydantic warn about each other's internals; none of it is actionable here.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*shadows an attribute in parent.*")
    prefer_kernels_by_flags()  # before numpy loads OpenBLAS, here and in every server, step and bench process
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
