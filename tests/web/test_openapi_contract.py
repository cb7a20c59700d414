"""The OpenAPI document is true: schemathesis generates requests for every operation from
the document alone, sends them in-process to the app (its channels are scripted fakes, so
no network), and runs every check on the answers, once with a platform key and once with a
merchant key. Derandomized, so a run is the same run every time; bounded to stay a
minute-scale part of `make test` (PAYCORE_CONTRACT_EXAMPLES=50 for a deeper hunt).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from sqlalchemy import Engine

from paycore.bills.admission import Admission, Limits
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import new_tenant, scripted_runtime

EXAMPLES = int(os.environ.get("PAYCORE_CONTRACT_EXAMPLES", "5"))
# The coverage phase sends the boundary values of every field, drops required headers and
# tries other methods: the run's bulk (about a minute alone), and the only phase in which
# `missing_required_header` and `unsupported_method` look. PAYCORE_CONTRACT_COVERAGE=0
# leaves it out for a quick run.
COVERAGE = os.environ.get("PAYCORE_CONTRACT_COVERAGE", "1") == "1"

# Schema-valid data may still be refused by a business rule (insufficient funds, an
# account of another currency): that is a 422 whose problem has no `errors`, and it is
# allowed here; `refused_only_by_business_rules` fails a 422 that field validation gave.
_ACCEPTED_STATUSES = ["2xx", "401", "403", "404", "409", "422"]
# A batch over its maximum is refused as 413 batch_too_large, as RFC 9110 has it.
_REFUSED_STATUSES = ["400", "401", "403", "404", "405", "409", "413", "415", "422"]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261206,
        "generation": {
            "max-examples": EXAMPLES,
            "deterministic": True,
            "database": "none",
            # The test sends the key; a case must not "omit" the Authorization it then gets.
            "with-security-parameters": False,
        },
        "phases": {"coverage": {"enabled": COVERAGE}, "stateful": {"enabled": False}},
        "checks": {
            "positive_data_acceptance": {"expected-statuses": _ACCEPTED_STATUSES},
            "negative_data_rejection": {"expected-statuses": _REFUSED_STATUSES},
        },
    }
)
DOCUMENT = create_app().openapi()
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)


def refused_only_by_business_rules(ctx: CheckContext, response: Response, case: Case) -> bool:
    """A request the document allows is never refused for its shape: the document and the
    validation agree. (Business refusals carry no `errors` list.)"""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    if response.status_code not in (400, 422):
        return True
    body = response.json()
    assert "errors" not in body or response.status_code != 422, (
        f"valid data refused as {body.get('code')}: {body.get('detail')}"
    )
    assert body.get("code") != "malformed_json", "a generated JSON body was refused as malformed"
    return True


@pytest.fixture
def runtime(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, field_cipher: FieldCipher
) -> Iterator[Runtime]:
    """The root runtime, with two scripted fake banks as its channels, and bill admission
    that never refuses: the run sends hundreds of bills a second, and load refusals are
    test_admission.py's subject, not the documents'."""
    for built in scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[ScriptedChannel("alpha"), ScriptedChannel("beta")],
    ):
        built.bills_admission = Admission(
            Limits(
                running_max=1_000,
                running_per_merchant_max=1_000,
                rate_per_s=1e9,
                burst=10**9,
                time_share=1.0,
            )
        )
        yield built


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    app = create_app(runtime=runtime)
    # The document every app builds on its first 405 (its Allow header), from the same
    # routes: built once here, not in each of the ~200 cases (a second or so each).
    app.openapi_schema = copy.deepcopy(DOCUMENT)
    return app


@pytest.fixture
def key(caller: str, runtime: Runtime, admin_key: str) -> str:
    """A platform key with the admin scope, or a merchant's key with the default scopes."""
    return admin_key if caller == "platform" else new_tenant(runtime, "Contract Shop").key


@pytest.mark.slow
@pytest.mark.parametrize("caller", ["platform", "merchant"])
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_document_says(case: Case, app: FastAPI, key: str) -> None:
    # Checks that send requests of their own (without the key, with another method) send
    # them to the schema's app: this test's.
    case.operation.schema.app = app
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {key}"},
        additional_checks=[refused_only_by_business_rules],
    )
