"""What every handler gets: the ports, the settings and the per-app state."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..ports import Caller, Owner, RegistryPorts
from .auth import RequestAuth
from .blob_links import BlobLinks
from .errors import RegistryError
from .names import RepositoryName
from .settings import RegistrySettings
from .uploads import UploadStore


@dataclass(frozen=True)
class RegistryContext:
    ports: RegistryPorts
    settings: RegistrySettings
    auth: RequestAuth
    uploads: UploadStore
    links: BlobLinks  # blobs deleted from a repository while the hold keeps them (end-10)

    def fault(self, name: str) -> bool:
        return name in self.settings.faults

    async def owner(self, name: RepositoryName) -> Owner:
        return await self.ports.owners.resolve(name.owner)

    async def writable_owner(self, caller: Caller, name: RepositoryName) -> Owner:
        """The owner of ``name`` once the caller may write there and the AppView holds an OAuth
        session to write with; checked before anything is written anywhere."""
        owner = await self.owner(name)
        self.auth.check_namespace(caller, owner, name)
        await self.ports.sessions.require_session(owner)
        return owner


async def read_body(request: Request, limit: int, code: str = "SIZE_INVALID") -> bytes:
    """The whole body, refusing (``code``) past ``limit`` bytes without reading further."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise RegistryError(code, f"body larger than {limit} bytes", int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RegistryError(code, f"body larger than {limit} bytes")
    return bytes(body)
