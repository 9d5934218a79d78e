"""Deliberate faults a reference service can be started with (``--fault NAME``).

They exist so the harness can prove each check fails on a non-conforming target. Faults are off
unless asked for; an unknown name is a usage error, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class UnknownFault(ValueError):
    pass


@dataclass(frozen=True)
class Faults:
    active: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, names: Iterable[str], known: Iterable[str]) -> Faults:
        known_set = frozenset(known)
        chosen = frozenset(n.strip() for n in names if n.strip())
        unknown = sorted(chosen - known_set)
        if unknown:
            choices = ", ".join(sorted(known_set)) or "none"
            raise UnknownFault(f"unknown fault {', '.join(unknown)} (known: {choices})")
        return cls(chosen)

    def __contains__(self, name: object) -> bool:
        return name in self.active

    def __bool__(self) -> bool:
        return bool(self.active)
