"""The Hold's did:web identity: its persisted secp256k1 key and its DID document."""

from __future__ import annotations

from typing import Any

from ...common.sqlite import Database
from ...primitives.keys import SigningKey, generate_signing_key, load_signing_key

_KEY_NAME = "signing_key_secp256k1"

DID_CONTEXT = ("https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1")


def load_or_create_key(db: Database) -> SigningKey:
    """The hold's signing key; created once and kept in hold.sqlite so the DID doc is stable."""
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM hold_secret WHERE name = ?", (_KEY_NAME,)).fetchone()
        if row is not None:
            return load_signing_key("secp256k1", bytes(row["value"]))
        key = generate_signing_key("secp256k1")
        conn.execute(
            "INSERT INTO hold_secret (name, value) VALUES (?, ?)", (_KEY_NAME, key.private_bytes())
        )
        return key


def did_document(did: str, key: SigningKey, public_url: str) -> dict[str, Any]:
    """Exactly the shape docs/atcr.md fixes (ATCR-HOLD-01)."""
    return {
        "@context": list(DID_CONTEXT),
        "id": did,
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.multikey,
            }
        ],
        "service": [{"id": "#atcr_hold", "type": "AtcrHoldService", "serviceEndpoint": public_url}],
    }
