"""STR-IMP-01: importing a repository exported from the user's PDS.

The ``spare`` role is enrolled afresh (an empty Stratos repo), more than 300
``zone.stratos.feed.post`` records are written to its PDS repo (a password session on the PDS),
the PDS export is imported — after broken copies of it that must be refused — and the records
are read back from Stratos. Afterwards the posts are removed from the PDS and the spare is
enrolled afresh again, so the suites after this one find it enrolled with an empty repo.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from conformance.checks.base import require
from conformance.checks.stratos_repo import check_import_complete, check_import_refuses_broken_cars
from conformance.clients.pds import PdsClient
from conformance.clients.stratos import EnrollmentAttempt, StratosEnroller
from conformance.clients.xrpc import XrpcClient
from conformance.plugin import Measure
from conformance.redact import Redactor
from conformance.scenarios.stratos_repo import (
    IMPORT_RECORDS,
    ImportProbes,
    StratosService,
    delete_pds_posts,
    enroll_afresh,
    probe_import,
    require_enrolled,
    write_pds_posts,
)

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.stratos.conftest import StratosRoles


@pytest.fixture(scope="module")
def service(stratos: XrpcClient, redactor: Redactor) -> StratosService:
    return StratosService.of(stratos, redactor)


@pytest.fixture(scope="module")
def imported(
    service: StratosService,
    roles: StratosRoles,
    enrolled: dict[str, EnrollmentAttempt],
    enroller: StratosEnroller,
    pds: PdsClient,
) -> Iterator[ImportProbes]:
    spare = roles["spare"]
    _left, attempt = enroll_afresh(service, enroller, spare)
    require_enrolled(attempt, "the spare account afresh")
    session = pds.login(spare.handle, spare.password)
    writes, rkeys = write_pds_posts(pds, session, spare.did, IMPORT_RECORDS)
    try:
        yield probe_import(service, pds, spare, writes, rkeys)
    finally:
        delete_pds_posts(pds, session, spare.did, rkeys)
        _left, attempt = enroll_afresh(service, enroller, spare)
        require_enrolled(attempt, "the spare account again after the import")


@pytest.mark.requirement("STR-IMP-01")
def test_import_refuses_broken_cars(imported: ImportProbes) -> None:
    require(check_import_refuses_broken_cars(imported))


@pytest.mark.requirement("STR-IMP-01")
def test_import_of_pds_export(imported: ImportProbes, measure: Measure) -> None:
    measure("records in the imported CAR", len(imported.car_records), "records")
    require(check_import_complete(imported))
