"""RoleTable: a role the profile lacks disables the test; a present one is handed over."""

from __future__ import annotations

import pytest

from conformance.suites.roles import RoleTable


def test_a_present_role_is_returned() -> None:
    roles = RoleTable({"owner": "alice"}, "Stratos", "docs/stratos.md")
    assert roles["owner"] == "alice"
    assert roles.get("owner") == "alice"


def test_a_missing_role_disables_the_test_and_names_the_role() -> None:
    roles = RoleTable({"owner": "alice"}, "ATCR", "docs/atcr.md")
    assert roles.get("crew") is None
    with pytest.raises(pytest.skip.Exception) as skipped:
        roles["crew"]
    assert str(skipped.value) == (
        "disabled: the profile has no account for the ATCR 'crew' role (docs/atcr.md)"
    )
