"""The boundary rule of docs/stratos.md, as the AppView applies it to timeline entries (pure).

Viewer V may read post P of author A when V = A, or V is enrolled and (P has no boundary, or
V's enrollment boundaries share a domain with P's).
"""

from __future__ import annotations

from dataclasses import dataclass

from .posts import Boundary


@dataclass(frozen=True)
class Viewer:
    did: str
    enrolled: bool
    domains: frozenset[str]


def may_view(viewer: Viewer, author: str, boundary: Boundary) -> bool:
    if viewer.did == author:
        return True
    if not viewer.enrolled:
        return False
    if not boundary.bounded:
        return True
    return not viewer.domains.isdisjoint(boundary.domains)
