"""The ``corkboard`` command: materialize, serve, ui, users, recommend, features."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence

from corkboard.settings import get_settings


def _materialize(args: argparse.Namespace) -> int:
    from corkboard.materialize import materialize_world

    materialize_world(args.world, progress=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    print(f"API docs: http://{args.host}:{args.port}/docs", file=sys.stderr, flush=True)
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port, log_level="info")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from corkboard.materialize import dagster_instance

    dagster_instance()  # sets DAGSTER_HOME under the data dir
    command = ["dagster", "dev", "-m", "orchestration.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI: http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    return subprocess.call([os.path.join(os.path.dirname(sys.executable), command[0]), *command[1:]])


def _users(args: argparse.Namespace) -> int:
    from corkboard.database import get_engine
    from sql.catalogue import user_ids

    with get_engine().connect() as conn:
        for user_id in user_ids(conn, limit=args.limit):
            print(user_id)
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from models.utility import UtilityWeights
    from service.pipeline import NotReadyError, recommend
    from service.state import open_serving_state

    try:
        weights = UtilityWeights.parse(args.weights) if args.weights else UtilityWeights()
    except ValueError as error:
        print(f"corkboard recommend: {error}", file=sys.stderr)
        return 2
    try:
        state = open_serving_state(get_settings())
    except NotReadyError as error:
        print(f"corkboard recommend: {error}", file=sys.stderr)
        return 1
    print(recommend(state, user_id=args.user, k=args.k, weights=weights).model_dump_json(indent=2))
    return 0


def _features(args: argparse.Namespace) -> int:
    from features.store import feature_store, online_features

    frame = online_features(feature_store(get_settings()), user_ids=[args.user])
    row = json.loads(frame.to_json(orient="records", date_format="iso"))[0]  # NaN -> null
    print(json.dumps(row, indent=2))
    return 0


def _positive_k(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("k must be between 1 and 500")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corkboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    materialize = commands.add_parser("materialize", help="build every asset for a world")
    materialize.add_argument("--world", default=get_settings().world, help="tiny, demo, large, ml100k or a folder")
    materialize.set_defaults(run=_materialize)

    for name, run, port, help_text in (
        ("serve", _serve, 8000, "start the REST API"),
        ("ui", _ui, 3000, "start the Dagster UI on corkboard's definitions"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=port)
        command.set_defaults(run=run)

    users = commands.add_parser("users", help="print user ids, most active first")
    users.add_argument("--limit", type=int, default=10)
    users.set_defaults(run=_users)

    rec = commands.add_parser("recommend", help="print a user's recommendations as JSON")
    rec.add_argument("user", type=int)
    rec.add_argument("--k", type=_positive_k, default=10)
    rec.add_argument("--weights", help="e.g. creator=1.5,merchant=0,ad=0")
    rec.set_defaults(run=_recommend)

    features = commands.add_parser("features", help="print a user's online features as JSON")
    features.add_argument("user", type=int)
    features.set_defaults(run=_features)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster, Feast and pydantic warn about each other's internals; none of it is actionable here.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*shadows an attribute in parent.*")
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
