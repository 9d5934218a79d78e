"""Repository names (``<owner>/<path>``), tags and references (tag or digest). Pure.

The owner segment is an ATProto handle or DID; the rest follows the OCI name grammar. The
repository records in the owner's PDS hold only ``<path>`` (docs/atcr.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lexicons.syntax import is_valid_did, is_valid_handle

from ...digests import Digest, InvalidDigest, parse_digest

MAX_NAME_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


class InvalidName(ValueError):
    """Not ``<handle-or-did>/<path>`` with an OCI path, or longer than 255 characters."""


class InvalidReference(ValueError):
    """Neither a tag nor a well-formed digest."""


@dataclass(frozen=True)
class RepositoryName:
    owner: str  # handle or DID, as written in the URL
    path: str  # what the records' ``repository`` field holds

    def __str__(self) -> str:
        return f"{self.owner}/{self.path}"


def is_valid_owner(owner: str) -> bool:
    if owner.startswith("did:"):
        return is_valid_did(owner)
    return is_valid_handle(owner)


def parse_name(text: str) -> RepositoryName:
    if not text or len(text) > MAX_NAME_LENGTH:
        raise InvalidName(f"repository names are 1..{MAX_NAME_LENGTH} characters")
    owner, slash, path = text.partition("/")
    if not slash or not path:
        raise InvalidName(f"{text!r} is not <owner>/<repository>: the owner is a handle or DID")
    if not is_valid_owner(owner):
        raise InvalidName(f"{owner!r} is neither a handle nor a DID")
    if _PATH.match(path) is None:
        raise InvalidName(f"{path!r} does not match the OCI repository name grammar")
    return RepositoryName(owner, path)


def is_valid_tag(text: str) -> bool:
    return _TAG.match(text) is not None


@dataclass(frozen=True)
class Reference:
    """A manifest reference: exactly one of ``tag`` and ``digest`` is set."""

    tag: str | None = None
    digest: Digest | None = None

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)


def parse_reference(text: str) -> Reference:
    # A ``:`` never occurs in a tag, so its presence decides which grammar applies; a malformed
    # digest is then reported as a digest problem rather than as a bad tag.
    if ":" in text:
        try:
            return Reference(digest=parse_digest(text))
        except InvalidDigest as exc:
            raise InvalidReference(str(exc)) from None
    if not is_valid_tag(text):
        raise InvalidReference(f"{text[:140]!r} is not a valid tag")
    return Reference(tag=text)
