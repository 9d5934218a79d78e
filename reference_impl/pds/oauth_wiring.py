"""Plugging the OAuth authorization server into the PDS's accounts and storage."""

from __future__ import annotations

import httpx

from .context import Pds
from .oauth.config import OAuthConfig
from .oauth.ports import AccountRef
from .oauth.server import OAuthServer, build_oauth_server
from .secrets_store import ServerSecrets


class PdsAccountDirectory:
    """The OAuth server's view of accounts (its ``AccountDirectory`` port)."""

    def __init__(self, pds: Pds) -> None:
        self.pds = pds

    def authenticate(self, identifier: str, password: str) -> AccountRef | None:
        login = self.pds.accounts.login(identifier, password)
        return AccountRef(login.account.did, login.account.handle) if login else None

    def get(self, did: str) -> AccountRef | None:
        account = self.pds.accounts.by_did(did)
        return AccountRef(account.did, account.handle) if account else None


def build_pds_oauth(pds: Pds, secrets: ServerSecrets, http: httpx.AsyncClient) -> OAuthServer:
    config = OAuthConfig(
        issuer=pds.config.public_url,
        signing_key=secrets.oauth_key.cryptography_private_key,
        nonce_secret=secrets.nonce_secret,
        access_token_ttl_s=int(pds.config.oauth_access_ttl_s),
    )
    return build_oauth_server(config, pds.db, PdsAccountDirectory(pds), http, pds.clock)
