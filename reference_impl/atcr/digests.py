"""OCI digests (``<algorithm>:<hex>``), incremental hashing, and the raw-codec CIDs a hold
addresses blobs by (docs/atcr.md, "Digests and blob CIDs"). Pure: no I/O."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

# algorithm -> (hex length, multihash code)
ALGORITHMS: dict[str, tuple[int, int]] = {"sha256": (64, 0x12), "sha512": (128, 0x13)}
_DIGEST = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")
_RAW_CODEC = 0x55


class InvalidDigest(ValueError):
    """Not ``<algorithm>:<hex>`` with a supported algorithm and the right length."""


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex

    def to_cid(self) -> str:
        """CIDv1, raw codec, this digest as its multihash; base32 multibase (``b…``)."""
        _, code = ALGORITHMS[self.algorithm]
        raw = bytes.fromhex(self.hex)
        body = bytes([0x01, _RAW_CODEC, code, len(raw)]) + raw
        return "b" + base64.b32encode(body).decode("ascii").lower().rstrip("=")


def parse_digest(text: str) -> Digest:
    match = _DIGEST.match(text or "")
    if match is None:
        raise InvalidDigest(f"{text!r} is not a digest of the form <algorithm>:<hex>")
    algorithm, hexpart = match.groups()
    if algorithm not in ALGORITHMS:
        raise InvalidDigest(f"unsupported digest algorithm {algorithm!r}")
    length, _ = ALGORITHMS[algorithm]
    if len(hexpart) != length or re.fullmatch(r"[0-9a-f]+", hexpart) is None:
        raise InvalidDigest(f"{algorithm} digests are {length} lower-case hex characters")
    return Digest(algorithm, hexpart)


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


def digest_from_cid(cid: str) -> Digest:
    """The digest inside a raw-codec CIDv1 (base32), as made by ``Digest.to_cid``."""
    if not cid.startswith("b") or len(cid) > 300:
        raise InvalidDigest("not a base32 CIDv1")
    text = cid[1:].upper()
    try:
        body = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise InvalidDigest("not a base32 CIDv1") from None
    if len(body) < 4 or body[0] != 0x01 or body[1] != _RAW_CODEC:
        raise InvalidDigest("not a raw-codec CIDv1")
    for algorithm, (length, code) in ALGORITHMS.items():
        if body[2] == code and body[3] == length // 2 and len(body) == 4 + length // 2:
            return Digest(algorithm, body[4:].hex())
    raise InvalidDigest("unsupported multihash in CID")


def did_web_url(did: str) -> str:
    """Where a ``did:web`` DID document lives; http for loopback hosts (docs/atcr.md)."""
    if not did.startswith("did:web:"):
        raise ValueError(f"{did!r} is not a did:web")
    parts = did[len("did:web:") :].split(":")
    host = parts[0].replace("%3A", ":").replace("%3a", ":")
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    scheme = "http" if hostname in ("localhost", "127.0.0.1", "[::1]") else "https"
    path = "/".join(parts[1:])
    return (
        f"{scheme}://{host}/{path}/did.json" if path else f"{scheme}://{host}/.well-known/did.json"
    )


def did_web_for(public_url: str) -> str:
    """The ``did:web`` of a service at ``public_url`` (its host, ``:`` as ``%3A``)."""
    rest = public_url.split("://", 1)[-1].split("/", 1)[0]
    return "did:web:" + rest.replace(":", "%3A")
