"""The registry layer's deliberate faults (docs/atcr.md, "Faults"), each of which a harness
check must catch: ``no-www-authenticate-realm``, ``push-other-namespace``, ``no-digest-verify``."""

from __future__ import annotations

from pathlib import Path

import jwt
from registry_support import (
    ALICE_DID,
    BOB_DID,
    HOLD,
    errors_of,
    push_image,
    running_registry,
    sha256,
)


def test_no_www_authenticate_realm(tmp_path: Path) -> None:
    with running_registry(tmp_path, frozenset({"no-www-authenticate-realm"})) as reg:
        response = reg.http.get("/v2/")
        assert response.status_code == 401 and errors_of(response) == ["UNAUTHORIZED"]
        assert response.headers["www-authenticate"] == 'Bearer service="atcr.test"'
        scoped = reg.http.get("/v2/alice.test/app/tags/list")
        assert "realm" not in scoped.headers["www-authenticate"]


def test_push_other_namespace(tmp_path: Path) -> None:
    with running_registry(tmp_path, frozenset({"push-other-namespace"})) as reg:
        token = reg.token("repository:alice.test/app:pull,push", user="bob.test")
        access = jwt.decode(token, options={"verify_signature": False})["access"]
        assert access == [
            {"type": "repository", "name": "alice.test/app", "actions": ["pull", "push"]}
        ]
        # bob writes into alice's namespace: the very thing ATCR-AUTH-03 must catch
        digest, _ = push_image(
            reg, "alice.test/app", "v1", {"Authorization": f"Bearer {token}"}, b"x"
        )
        assert reg.manifests.writes[-1] == ("put", ALICE_DID, "app", digest, ("v1",))
        assert reg.blobs.uploads[-1][1] == ALICE_DID
        assert BOB_DID not in {w[1] for w in reg.manifests.writes}


def test_no_digest_verify(tmp_path: Path) -> None:
    with running_registry(tmp_path, frozenset({"no-digest-verify"})) as reg:
        h = reg.push_auth("alice.test/app")
        claimed = "sha256:" + "1" * 64
        response = reg.http.post(
            "/v2/alice.test/app/blobs/uploads/",
            params={"digest": claimed},
            content=b"other bytes",
            headers=h,
        )
        assert response.status_code == 201  # stored under the claimed digest, unchecked
        assert reg.blobs.uploads[-1] == (HOLD, ALICE_DID, claimed, len(b"other bytes"))
        assert reg.blobs.path(HOLD, claimed).read_bytes() == b"other bytes"
        assert sha256(b"other bytes") != claimed
