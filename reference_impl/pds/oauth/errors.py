"""Error types of the OAuth server.

Authorization-server endpoints raise :class:`~reference_impl.common.errors.OAuthError` (an OAuth
JSON body, RFC 6749 §5.2). The PDS acting as a resource server gets a :class:`ResourceAuthError`
from ``OAuthServer.verify_access``: always 401, with the ``WWW-Authenticate: DPoP ...`` challenge
(RFC 9449 §7.1) and a fresh ``DPoP-Nonce`` already in ``headers``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...common.errors import OAuthError, XrpcError

__all__ = [
    "OAuthError",
    "ResourceAuthError",
    "access_denied",
    "invalid_client",
    "invalid_grant",
    "invalid_request",
    "invalid_scope",
]


def invalid_request(description: str) -> OAuthError:
    return OAuthError(400, "invalid_request", description)


def invalid_client(description: str) -> OAuthError:
    return OAuthError(400, "invalid_client", description)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError(400, "invalid_grant", description)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError(400, "invalid_scope", description)


def access_denied(description: str) -> OAuthError:
    return OAuthError(400, "access_denied", description)


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is limited to printable ASCII without '"' and '\'.
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


class ResourceAuthError(Exception):
    """A request the resource server refuses with 401.

    ``error`` is the OAuth error code for the challenge (``invalid_token``,
    ``invalid_dpop_proof``, ``use_dpop_nonce``), or None when the request carried no credentials
    at all (RFC 6750 §3.1: no error code then). ``xrpc_error`` is the name for the XRPC body.
    """

    status = 401

    def __init__(
        self,
        error: str | None,
        description: str,
        *,
        nonce: str,
        algs: tuple[str, ...],
        xrpc_error: str = "InvalidToken",
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.xrpc_error = xrpc_error
        challenge = [f'algs="{" ".join(algs)}"']
        if error is not None:
            challenge = [
                f'error="{error}"',
                f'error_description="{_quoted(description)}"',
                *challenge,
            ]
        self.headers: Mapping[str, str] = {
            "WWW-Authenticate": "DPoP " + ", ".join(challenge),
            "DPoP-Nonce": nonce,
        }

    def as_xrpc_error(self) -> XrpcError:
        """The same refusal in the XRPC envelope, challenge and nonce headers included."""
        return XrpcError(self.status, self.xrpc_error, self.description, dict(self.headers))
