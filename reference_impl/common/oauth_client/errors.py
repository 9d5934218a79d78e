"""Errors of the OAuth client. Callers map them onto their own wire errors (the Stratos
callback answers 400 for :class:`LoginFailed`; ATCR answers 401 for :class:`NoSession`)."""

from __future__ import annotations


class OAuthClientError(Exception):
    """Base class. ``message`` is safe to show to the user: it never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResolutionError(OAuthClientError):
    """A handle, DID document or discovery document could not be resolved or is malformed."""


class UnknownHandle(ResolutionError):
    """The handle does not resolve to a DID (or its DID document does not claim it)."""


class LoginFailed(OAuthClientError):
    """The pushed authorization request, the callback or the code exchange failed."""


class NoSession(OAuthClientError):
    """There is no usable session for the DID: never logged in, forgotten, or revoked at the
    authorization server (its refresh token was refused). The user must log in again."""


class UpstreamError(OAuthClientError):
    """The user's PDS or authorization server could not be reached or answered nonsense;
    the session is kept (the failure may be transient)."""
