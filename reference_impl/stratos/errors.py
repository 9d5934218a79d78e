"""The Stratos-specific XRPC errors, each made in one place so every route answers alike."""

from __future__ import annotations

from ..common.errors import XrpcError

# STR-BND-02: hidden, missing, unknown repo, unauthenticated — all answer exactly this.
RECORD_NOT_FOUND_MESSAGE = "Record not found"


def record_not_found() -> XrpcError:
    return XrpcError(404, "RecordNotFound", RECORD_NOT_FOUND_MESSAGE)


def forbidden_record() -> XrpcError:
    """Only under the ``boundary-403`` fault: the answer STR-BND-02 forbids."""
    return XrpcError(403, "Forbidden", "You may not read this record")


def not_enrolled() -> XrpcError:
    return XrpcError(403, "NotEnrolled", "You are not enrolled in this Stratos service")


def not_your_repo() -> XrpcError:
    return XrpcError(401, "AuthRequired", "You may only write to your own repository")


def enrollment_denied() -> XrpcError:
    return XrpcError(
        403,
        "EnrollmentDenied",
        "This DID may not enrol in this service",
        extra={"reason": "NotInAllowlist"},
    )


def unknown_domain(name: str) -> XrpcError:
    return XrpcError(400, "InvalidRequest", f"Unknown boundary domain: {name!r}")


def invalid_record(reason: str, message: str) -> XrpcError:
    return XrpcError(400, "InvalidRecord", message, extra={"reason": reason})


def repo_not_found(did: str) -> XrpcError:
    return XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")


def rate_limited(retry_after_s: int) -> XrpcError:
    return XrpcError(
        429,
        "RateLimitExceeded",
        "Write rate limit exceeded; retry after the window resets",
        headers={"Retry-After": str(retry_after_s)},
    )
