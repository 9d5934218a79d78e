"""did:plc identities: genesis operations, DIDs derived from them, and DID documents."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ..primitives import dagcbor
from ..primitives.keys import SigningKey

DID_CONTEXT = (
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
    "https://w3id.org/security/suites/secp256k1-2019/v1",
)


def genesis_operation(
    signing_key: SigningKey, rotation_key: SigningKey, handle: str, pds_url: str
) -> dict[str, Any]:
    """A signed PLC genesis operation, as a PLC directory would accept it."""
    unsigned: dict[str, Any] = {
        "type": "plc_operation",
        "rotationKeys": [rotation_key.did_key],
        "verificationMethods": {"atproto": signing_key.did_key},
        "alsoKnownAs": [f"at://{handle}"],
        "services": {"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": pds_url}},
        "prev": None,
    }
    sig = rotation_key.sign(dagcbor.encode(unsigned))
    return {**unsigned, "sig": base64.urlsafe_b64encode(sig).rstrip(b"=").decode("ascii")}


def did_for_operation(signed_operation: dict[str, Any]) -> str:
    """``did:plc:`` + the first 24 base32 characters of the SHA-256 of the signed genesis op."""
    digest = hashlib.sha256(dagcbor.encode(signed_operation)).digest()
    return "did:plc:" + base64.b32encode(digest).decode("ascii").lower()[:24]


def did_document(did: str, handle: str, signing_key_multikey: str, pds_url: str) -> dict[str, Any]:
    return {
        "@context": list(DID_CONTEXT),
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": signing_key_multikey,
            }
        ],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds_url}
        ],
    }
