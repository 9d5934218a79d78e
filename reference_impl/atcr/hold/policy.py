"""Who may read and write blobs of this hold. Pure: the captain record and crew permissions in,
a yes/no out (docs/atcr.md, "Hold wire contract")."""

from __future__ import annotations

from .hold_repo import OWNER_PERMISSIONS, Captain


def effective_permissions(
    did: str, captain: Captain, crew_permissions: frozenset[str]
) -> frozenset[str]:
    return OWNER_PERMISSIONS if did == captain.owner else crew_permissions


def may_write(did: str, captain: Captain, crew_permissions: frozenset[str]) -> bool:
    """Crew with ``blob:write`` (or the owner); anyone authenticated when allowAllCrew is on."""
    if captain.allow_all_crew:
        return True
    return "blob:write" in effective_permissions(did, captain, crew_permissions)


def may_read(did: str | None, captain: Captain, crew_permissions: frozenset[str]) -> bool:
    """Anyone on a public hold; otherwise crew with ``blob:read`` (or the owner).

    With allowAllCrew, every authenticated user is admitted as a writer; a writer must be able
    to check what it wrote (the AppView HEADs blobs before accepting a manifest), so it may read.
    """
    if captain.public:
        return True
    if did is None:
        return False
    if captain.allow_all_crew:
        return True
    return "blob:read" in effective_permissions(did, captain, crew_permissions)
