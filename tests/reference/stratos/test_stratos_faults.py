"""Each deliberate fault breaks exactly what docs/stratos.md says it breaks; CORS when healthy."""

from __future__ import annotations

from pathlib import Path

import pytest
from stratos_support import ENGINEERING, RunningStratos, new_did, post, running_stratos

from reference_impl.common.faults import Faults, UnknownFault
from reference_impl.stratos.config import KNOWN_FAULTS

POST = "zone.stratos.feed.post"
PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, dpop, content-type",
}


def _hidden_and_missing(svc: RunningStratos) -> tuple[str, str, str]:
    owner, outsider = new_did(), new_did()
    svc.enroll(owner, "engineering")
    svc.enroll(outsider, "design")
    created = svc.create(owner, post("secret", [ENGINEERING]))
    assert created.status_code == 200, created.text
    return owner, outsider, created.json()["uri"].rsplit("/", 1)[1]


def test_boundary_403(tmp_path: Path) -> None:
    with running_stratos(tmp_path, faults=["boundary-403"]) as svc:
        owner, outsider, rkey = _hidden_and_missing(svc)
        params = {"repo": owner, "collection": POST, "rkey": rkey}
        hidden = svc.get("com.atproto.repo.getRecord", params, outsider)
        assert hidden.status_code == 403 and hidden.json()["error"] == "Forbidden"
        anonymous = svc.get("com.atproto.repo.getRecord", params, None)
        assert anonymous.status_code == 404  # STR-BND-03 is not this fault's business
        missing = svc.get(
            "com.atproto.repo.getRecord", {**params, "rkey": "3zzzzzzzzzzzz"}, outsider
        )
        assert missing.status_code == 404


def test_sync_getrecord_no_boundary(tmp_path: Path) -> None:
    with running_stratos(tmp_path, faults=["sync-getrecord-no-boundary"]) as svc:
        owner, outsider, rkey = _hidden_and_missing(svc)
        leaked = svc.get(
            "com.atproto.sync.getRecord", {"did": owner, "collection": POST, "rkey": rkey}, outsider
        )
        assert leaked.status_code == 200 and b"secret" in leaked.content
        still_hidden = svc.get(
            "com.atproto.repo.getRecord",
            {"repo": owner, "collection": POST, "rkey": rkey},
            outsider,
        )
        assert still_hidden.status_code == 404


def test_no_empty_commit(tmp_path: Path) -> None:
    with running_stratos(tmp_path, faults=["no-empty-commit"]) as svc:
        did = new_did()
        svc.enroll(did, "engineering")
        exported = svc.get("zone.stratos.sync.getRepo", {"did": did}, did)
        assert exported.status_code == 400 and exported.json()["error"] == "RepoNotFound"
        described = svc.get("com.atproto.repo.describeRepo", {"repo": did}, did)
        assert described.json()["error"] == "RepoNotFound"
        listed = svc.get("com.atproto.repo.listRecords", {"repo": did, "collection": POST}, did)
        assert listed.json()["error"] == "RepoNotFound"
        # The first write still makes a repository.
        assert svc.create(did, post("late start")).status_code == 200
        assert svc.get("zone.stratos.sync.getRepo", {"did": did}, did).status_code == 200


def test_cors_healthy(svc: RunningStratos) -> None:
    preflight = svc.http.options(svc.xrpc("com.atproto.repo.createRecord"), headers=PREFLIGHT)
    assert preflight.status_code == 204
    allowed = preflight.headers["access-control-allow-headers"]
    assert {"authorization", "dpop", "content-type"} <= {h.strip() for h in allowed.split(",")}
    did = new_did()
    svc.enroll(did, "engineering")
    response = svc.http.post(
        svc.xrpc("com.atproto.repo.createRecord"),
        json={"repo": did, "collection": POST, "record": post("x")},
        headers={"Authorization": f"Test {did}", "Origin": "https://app.example"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"dpop-nonce", "www-authenticate", "ratelimit-remaining", "ratelimit-reset"} <= exposed
    missing = svc.get(
        "com.atproto.repo.getRecord", {"repo": did, "collection": POST, "rkey": "3zzzzzzzzzzzz"}
    )
    assert missing.status_code == 404 and "access-control-allow-origin" in missing.headers


@pytest.mark.parametrize(
    ("fault", "header", "name"),
    [
        ("cors-no-expose-dpop-nonce", "expose", "dpop-nonce"),
        ("cors-no-expose-www-authenticate", "expose", "www-authenticate"),
        ("cors-no-allow-dpop", "allow", "dpop"),
        ("cors-no-allow-authorization", "allow", "authorization"),
    ],
)
def test_cors_faults(tmp_path: Path, fault: str, header: str, name: str) -> None:
    with running_stratos(tmp_path, faults=[fault]) as svc:
        if header == "allow":
            preflight = svc.http.options(svc.xrpc("_health"), headers=PREFLIGHT)
            values = preflight.headers["access-control-allow-headers"]
        else:
            response = svc.http.get(svc.xrpc("_health"), headers={"Origin": "https://app.example"})
            values = response.headers["access-control-expose-headers"]
        present = {h.strip() for h in values.split(",")}
        assert name not in present and present  # only that one header is gone


def test_auth_layer_faults_are_known_and_exposed(tmp_path: Path) -> None:
    faults = ["accept-forged-token", "dpop-no-replay-check"]
    with running_stratos(tmp_path, faults=faults) as svc:
        assert set(faults) <= svc.stratos.config.faults.active
    with pytest.raises(UnknownFault):
        Faults.parse(["no-such-fault"], KNOWN_FAULTS)
