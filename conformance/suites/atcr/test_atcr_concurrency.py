"""ATCR-CONC-01/02: concurrent layer uploads of one user, and two users racing on one tag."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from conformance.checks.atcr import check_concurrent_layers, check_same_tag_race
from conformance.checks.base import require
from conformance.clients.pds import PdsClient
from conformance.plugin import Measure
from conformance.scenarios.atcr import probe_concurrent_layers, probe_same_tag_race

if TYPE_CHECKING:  # the suite's conftest is loaded by pytest, not imported
    from conformance.suites.atcr.conftest import AtcrMember, RegistryFactory


@pytest.mark.requirement("ATCR-CONC-01")
def test_concurrent_layer_uploads(
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
    record_measurement: Measure,
) -> None:
    user = logged_in("a").user
    push = probe_concurrent_layers(registry_for(user), user, layers=8)
    record_measurement("push of 8 concurrently uploaded layers", round(push.elapsed_s, 3), "s")
    require(check_concurrent_layers(push))


@pytest.mark.requirement("ATCR-CONC-02")
def test_same_tag_race(
    pds: PdsClient,
    logged_in: Callable[[str], AtcrMember],
    registry_for: RegistryFactory,
    record_measurement: Measure,
) -> None:
    a, b = logged_in("a").user, logged_in("b").user
    race = probe_same_tag_race(pds, [(registry_for(a), a), (registry_for(b), b)])
    for pushed in race.pushes:
        record_measurement(f"push by {pushed.user.handle}", round(pushed.push.elapsed_s, 3), "s")
    require(check_same_tag_race(race))
