"""Who is making an XRPC call, however they authenticated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..common.errors import XrpcError


@dataclass(frozen=True)
class Caller:
    did: str
    via: Literal["session", "app-password", "oauth"]
    scope: str

    @property
    def full_access(self) -> bool:
        """Account-management methods (app passwords) need a full session, not a delegated one."""
        return self.via == "session"

    def require_repo_owner(self, repo_did: str) -> None:
        if repo_did != self.did:
            raise XrpcError(401, "AuthRequired", "You may only write to your own repository")
