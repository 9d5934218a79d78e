"""Accounts: creation (a did:plc and a secp256k1 repo key), lookup, passwords, app passwords."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lexicons.syntax import is_valid_did, is_valid_handle

from ..common.errors import XrpcError, invalid_request
from ..common.sqlite import Database
from ..primitives import dagcbor
from ..primitives.keys import Curve, SigningKey, generate_signing_key, load_signing_key
from . import identity, passwords
from .config import PdsConfig

REPO_KEY_CURVE: Curve = "secp256k1"


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    email: str | None
    signing_key: SigningKey = field(repr=False)
    created_at: str


@dataclass(frozen=True)
class Login:
    """A successful password check: which account, and which app password if one was used."""

    account: Account
    app_password: str | None
    privileged: bool


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AccountService:
    def __init__(
        self,
        db: Database,
        config: PdsConfig,
        rotation_key: SigningKey,
        on_created: Callable[[sqlite3.Connection, Account], None],
    ) -> None:
        self.db = db
        self.config = config
        self.rotation_key = rotation_key
        # Runs inside the account-creation transaction (the repo's first commit), so an account
        # never exists without its repository.
        self.on_created = on_created

    # -- creation ---------------------------------------------------------------------------

    def normalise_handle(self, handle: str) -> str:
        handle = handle.strip().lower()
        if not is_valid_handle(handle):
            raise invalid_request(f"Invalid handle: {handle!r}", "InvalidHandle")
        if not any(handle.endswith(domain) for domain in self.config.handle_domains):
            domains = ", ".join(self.config.handle_domains)
            raise invalid_request(f"Handle must end with one of: {domains}", "UnsupportedDomain")
        return handle

    def create(
        self, handle: str, password: str, email: str | None, invite_code: str | None
    ) -> Account:
        if self.config.invite_code is not None and invite_code != self.config.invite_code:
            raise invalid_request("A valid invite code is required", "InvalidInviteCode")
        handle = self.normalise_handle(handle)
        if not password:
            raise invalid_request("A password is required", "InvalidPassword")
        signing_key = generate_signing_key(REPO_KEY_CURVE)
        operation = identity.genesis_operation(
            signing_key, self.rotation_key, handle, self.config.public_url
        )
        did = identity.did_for_operation(operation)
        account = Account(did, handle, email, signing_key, now_iso())
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO account (did, handle, email, password_hash, signing_key,"
                    " plc_operation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        did,
                        handle,
                        email,
                        passwords.hash_password(password),
                        signing_key.private_bytes(),
                        dagcbor.encode(operation),
                        account.created_at,
                    ),
                )
                self.on_created(conn, account)
        except sqlite3.IntegrityError as exc:
            raise invalid_request(f"Handle already taken: {handle}", "HandleNotAvailable") from exc
        return account

    # -- lookup -----------------------------------------------------------------------------

    def _from_row(self, row: sqlite3.Row | None) -> Account | None:
        if row is None:
            return None
        return Account(
            did=row["did"],
            handle=row["handle"],
            email=row["email"],
            signing_key=load_signing_key(REPO_KEY_CURVE, bytes(row["signing_key"])),
            created_at=row["created_at"],
        )

    def by_did(self, did: str) -> Account | None:
        return self._from_row(self.db.query_one("SELECT * FROM account WHERE did = ?", (did,)))

    def by_handle(self, handle: str) -> Account | None:
        return self._from_row(
            self.db.query_one("SELECT * FROM account WHERE handle = ?", (handle.strip().lower(),))
        )

    def resolve(self, identifier: str) -> Account | None:
        """A handle or a DID (as every ``repo`` parameter may be either)."""
        if identifier.startswith("did:"):
            return self.by_did(identifier) if is_valid_did(identifier) else None
        return self.by_handle(identifier)

    def require_repo(self, identifier: str) -> Account:
        account = self.resolve(identifier)
        if account is None:
            # com.atproto.repo.* declare no RepoNotFound; real PDSes answer InvalidRequest here.
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {identifier}")
        return account

    def did_document(self, account: Account) -> dict[str, Any]:
        return identity.did_document(
            account.did, account.handle, account.signing_key.multikey, self.config.public_url
        )

    # -- passwords --------------------------------------------------------------------------

    def login(self, identifier: str, password: str) -> Login | None:
        """Check a password or an app password; None when either is wrong (no hint which)."""
        account = self.resolve(identifier)
        if account is None or not password:
            # Spend the same work as a real check so timing does not reveal which accounts exist.
            passwords.verify_password(password or "-", _DUMMY_HASH)
            return None
        row = self.db.query_one("SELECT password_hash FROM account WHERE did = ?", (account.did,))
        if row is not None and passwords.verify_password(password, row["password_hash"]):
            return Login(account, None, True)
        if passwords.looks_like_app_password(password):
            for app in self.db.query(
                "SELECT name, password_hash, privileged FROM app_password WHERE did = ?",
                (account.did,),
            ):
                if passwords.verify_password(password, app["password_hash"]):
                    return Login(account, app["name"], bool(app["privileged"]))
        return None

    def create_app_password(self, did: str, name: str, privileged: bool) -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise invalid_request("App password name must not be empty")
        password = passwords.generate_app_password()
        created_at = now_iso()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO app_password (did, name, password_hash, privileged, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (did, name, passwords.hash_password(password), int(privileged), created_at),
                )
        except sqlite3.IntegrityError as exc:
            raise invalid_request(f"App password {name!r} already exists", "DuplicateName") from exc
        return {
            "name": name,
            "password": password,
            "createdAt": created_at,
            "privileged": privileged,
        }

    def list_app_passwords(self, did: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT name, created_at, privileged FROM app_password"
            " WHERE did = ? ORDER BY created_at",
            (did,),
        )
        return [
            {"name": r["name"], "createdAt": r["created_at"], "privileged": bool(r["privileged"])}
            for r in rows
        ]

    def revoke_app_password(self, did: str, name: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM app_password WHERE did = ? AND name = ?", (did, name))
            conn.execute(
                "DELETE FROM refresh_token WHERE did = ? AND app_password_name = ?", (did, name)
            )

    def app_password_privileged(self, did: str, name: str) -> bool | None:
        """Whether the app password is privileged; None when it no longer exists."""
        row = self.db.query_one(
            "SELECT privileged FROM app_password WHERE did = ? AND name = ?", (did, name)
        )
        return bool(row["privileged"]) if row else None


_DUMMY_HASH = passwords.hash_password("atconform-timing-equaliser")
