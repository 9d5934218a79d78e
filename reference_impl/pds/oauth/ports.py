"""What the OAuth server needs from the PDS core: account lookup and password checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AccountRef:
    did: str
    handle: str


class AccountDirectory(Protocol):
    def authenticate(self, identifier: str, password: str) -> AccountRef | None:
        """Handle or DID plus account password (or app password); None when they do not match."""
        ...

    def get(self, did: str) -> AccountRef | None:
        """The account with this DID, or None when it does not exist (any more)."""
        ...
