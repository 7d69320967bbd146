"""Schema fuzz: schemathesis generates requests from ``/openapi.json``, valid and not, for every
operation of the in-process app on the tiny world, and runs every check it has on each answer:
no server error; status codes, content types, headers and bodies as documented; valid requests
accepted and invalid ones refused; undocumented methods answered 405 with the right ``Allow``;
authentication enforced where the document says it is; ... (``schemathesis run --checks all``
against a served app runs the same checks, docs/serving.md). The expected statuses are the
checks' own, with the exception the repository's schemathesis.toml names and explains.

Calls carry a key of the read and admin scopes, so the page and utility-weight handlers are
fuzzed past authentication (the stored weights are put back afterwards); POST /v1/events is
fuzzed up to its 403, so that no fuzzed event lands in the session's event log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, is_check_class, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi import from_dict
from schemathesis.python.asgi import shutdown_lifespans

from sql.migrate import migrated_engine
from core.api_keys import Scope, new_api_key
from core.settings import get_settings
from models.utility import UtilityWeights
from service.app import create_app
from sql.utility_weights import DEFAULT_WEIGHTS, delete_arm, list_arms, put_weights

ADMIN_KEY, ADMIN = new_api_key("fuzz", [Scope.READ, Scope.ADMIN])
load_all_checks()
EVERY_CHECK = [check for check in CHECKS.get_all() if not is_check_class(check)]
CONFIG = SchemathesisConfig.from_path(str(Path(__file__).parents[2] / "schemathesis.toml"))
# Its lifespan starts with the first fuzzed call and loads the tiny world.
APP = create_app()


# The app's own /openapi.json document, read without starting the app: its lifespan starts with
# the first fuzzed call, in-process, once the fixture below has pointed settings at the tiny world.
schema = from_dict(APP.openapi(), config=CONFIG)
schema.app = APP


@pytest.fixture(scope="module")
def tiny_world_with_admin_key(materialized_tiny: Path) -> Iterator[None]:
    keyed = get_settings().model_copy(update={"api_keys": (ADMIN,)})
    APP.dependency_overrides[get_settings] = lambda: keyed
    yield
    shutdown_lifespans()  # release the loaded world before the next module
    APP.dependency_overrides.clear()
    with migrated_engine().begin() as conn:  # leave the weights as the migration seeded them
        put_weights(conn, name=DEFAULT_WEIGHTS, weights=UtilityWeights())
        for arm in list_arms(conn):
            delete_arm(conn, name=arm.name)


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_holds_its_contract(case: schemathesis.Case, tiny_world_with_admin_key: None) -> None:
    case.call_and_validate(headers={"X-API-Key": ADMIN_KEY}, checks=EVERY_CHECK)
    # The fuzz reached a loaded service, not one answering 503 to everything.
    assert APP.state.serving is not None, APP.state.not_ready_reason
