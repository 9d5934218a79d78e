"""The accounts a suite's profile gives it, by role (owner, member, outsider, crew, …).

A role the profile lacks disables the tests that need it, rather than failing them: the target
may simply not have been given that many accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from conformance.plugin import disabled

T = TypeVar("T")


@dataclass(frozen=True)
class RoleTable(Generic[T]):
    members: dict[str, T]
    service: str  # named in the message, e.g. "Stratos"
    doc: str  # where the roles are explained, e.g. "docs/stratos.md"

    def __getitem__(self, role: str) -> T:
        member = self.members.get(role)
        if member is None:
            disabled(
                f"the profile has no account for the {self.service} {role!r} role ({self.doc})"
            )
        return member

    def get(self, role: str) -> T | None:
        return self.members.get(role)
