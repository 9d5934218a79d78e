"""Small helpers the resource handlers share."""

from __future__ import annotations

from ...ports import Owner
from ..context import RegistryContext
from ..errors import RegistryError
from ..names import RepositoryName


async def require_repository(ctx: RegistryContext, owner: Owner, name: RepositoryName) -> None:
    """NAME_UNKNOWN when the repository has no records at all (ATCR-REC-02); called only once
    a read found nothing, so existing repositories cost no extra PDS call."""
    if not await ctx.ports.manifests.repository_exists(owner, name.path):
        raise RegistryError("NAME_UNKNOWN", f"repository {name} is not known", str(name))
