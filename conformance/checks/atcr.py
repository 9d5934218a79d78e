"""ATCR checks (ATCR-AUTH/OAUTH/REC/HOLD/CONC/CLIENT-*): one small function per requirement.

Each takes what a ``conformance.scenarios.atcr`` probe returned and answers ``Failure | None``.
Where a probe set has controls (a push that must succeed before a refusal means anything),
a refused control fails first: a target refusing everything would otherwise pass. Messages
quote cases, statuses, OCI error codes and digests — never passwords or tokens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from conformance.checks.base import Failure
from conformance.checks.clock import FAIL, check_clock_pair
from conformance.clients.oci import parse_challenge
from conformance.realclients.flow import RealClientRun
from conformance.scenarios.atcr import (
    BlobPlacement,
    ClientMetadataProbes,
    CrewProbes,
    CrossNamespaceProbes,
    ImagePush,
    MultipartProbes,
    MultipartRun,
    NoSessionProbes,
    OutageProbes,
    PushedRecords,
    RoundTrip,
    SameTagRace,
    TagDeletion,
    TamperedTokenProbes,
    TimedProbe,
    TokenProbes,
    UnknownPulls,
    captain_settings,
    did_web_url,
    digest_of,
    find_tag_record,
    jwt_parts,
    oci_error_codes,
    oci_error_messages,
    repository_path,
)
from conformance.scenarios.base import Probe, body_of, describe_response, json_body
from conformance.scenarios.clock import ClockOffset

OUTAGE_LIMIT_S = 10.0
REDIRECTS = (301, 302, 303, 307, 308)
TOKEN_FIELDS = ("token", "access_token", "expires_in", "issued_at")
_LOGIN_AGAIN = re.compile(r"log\s*-?\s*in", re.IGNORECASE)


def _describe(response: httpx.Response | None) -> str:
    if response is None:
        return "no response"
    codes = oci_error_codes(response)
    text = describe_response(response)
    return f"{text} OCI errors {list(codes)}" if codes else text


def _refused_control(requirement: str, probes: Iterable[Probe | None]) -> Failure | None:
    for probe in probes:
        if probe is not None and not 200 <= probe.response.status_code < 300:
            return Failure(
                requirement,
                "a correct request was refused, so the rest proves nothing",
                f"control request ({probe.case}): expected 2xx, got {_describe(probe.response)}",
                (probe.response,),
            )
    return None


def push_failure(requirement: str, push: ImagePush) -> Failure | None:
    """A Failure naming the first refused step of a push that had to succeed, else None."""
    if push.ok:
        return None
    for probe in push.probes:
        expected = 202 if "POST" in probe.case else 201
        if probe.response.status_code != expected:
            return Failure(
                requirement,
                "pushing an image was refused, so the requirement cannot be shown",
                f"{probe.case}: expected {expected}, got {_describe(probe.response)}",
                (probe.response,),
            )
    last = push.probes[-1].response if push.probes else None
    return Failure(requirement, "pushing an image did not complete",
                   f"push of {push.name}: no manifest PUT answered 201", (last,) if last else ())


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


# --- ATCR-AUTH-01 --------------------------------------------------------------------------------


def check_base_challenge(probe: Probe, registry_url: str) -> Failure | None:
    """ATCR-AUTH-01: ``GET /v2/`` unauthenticated → 401, Bearer challenge whose realm is
    ``<registry>/auth/token`` and that names a service, OCI body UNAUTHORIZED."""
    response = probe.response
    problems: list[str] = []
    if response.status_code != 401:
        problems.append(f"status {response.status_code}, expected 401")
    challenge = parse_challenge(response.headers.get("www-authenticate"))
    expected_realm = f"{registry_url.rstrip('/')}/auth/token"
    if challenge is None or challenge.scheme != "bearer":
        problems.append("no WWW-Authenticate: Bearer challenge")
    else:
        realm = challenge.realm
        if not realm:
            problems.append("the Bearer challenge has no realm (docker cannot find the token "
                            "endpoint)")
        elif realm.rstrip("/") != expected_realm:
            problems.append(f"realm {realm!r}, expected {expected_realm!r}")
        if not challenge.params.get("service"):
            problems.append("the Bearer challenge has no service parameter")
    codes = oci_error_codes(response)
    if "UNAUTHORIZED" not in codes[:1]:
        problems.append(f"error codes {list(codes)}, expected UNAUTHORIZED first")
    if not problems:
        return None
    return Failure("ATCR-AUTH-01", "the registry health check answer is wrong",
                   f"{probe.case}: " + "; ".join(problems), (response,))


# --- ATCR-AUTH-02 --------------------------------------------------------------------------------


def _granted(claims: Mapping[str, Any], name: str) -> set[str]:
    out: set[str] = set()
    access = claims.get("access")
    for entry in access if isinstance(access, list) else []:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "repository"
            and entry.get("name") == name
            and isinstance(entry.get("actions"), list)
        ):
            out |= {str(a) for a in entry["actions"]}
    return out


def _verify_token(token: str, jwks: Any, service: str | None) -> tuple[dict[str, Any] | None, str]:
    """(claims, "") when the token's signature verifies against the JWKS, else (None, why)."""
    parts = jwt_parts(token)
    if parts is None:
        return None, "the token is not a compact JWT"
    header, _ = parts
    try:
        keyset = jwt.PyJWKSet.from_dict(jwks)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        return None, f"the JWKS at /auth/jwks is unusable ({type(exc).__name__})"
    keys = [k for k in keyset.keys if header.get("kid") in (None, k.key_id)] or list(keyset.keys)
    last = "no key in the JWKS"
    for key in keys:
        try:
            claims = jwt.decode(
                token, key=key.key, algorithms=["ES256", "ES256K", "RS256", "EdDSA", "ES384"],
                audience=service, options={"verify_aud": service is not None},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        return dict(claims), ""
    return None, f"the signature does not verify against /auth/jwks ({last})"


def check_token_issuance(probes: TokenProbes) -> Failure | None:
    """ATCR-AUTH-02: Basic (handle or DID) → 200 {token, access_token, expires_in, issued_at};
    a JWT verifiable with /auth/jwks granting exactly pull,push on the user's own repository.
    (What a token grants on *another* user's repository is namespace protection: ATCR-AUTH-03,
    see :func:`check_foreign_token`.)"""
    if probes.jwks.response.status_code != 200 or not isinstance(
        json_body(probes.jwks.response), dict
    ):
        return Failure("ATCR-AUTH-02", "the token signing keys are not published",
                       f"{probes.jwks.case}: expected 200 JWKS, got "
                       f"{_describe(probes.jwks.response)}", (probes.jwks.response,))
    jwks = json_body(probes.jwks.response)
    for probe in (probes.by_handle, probes.by_did):
        claims, failure = _token_claims("ATCR-AUTH-02", probe, jwks, probes.service)
        if failure is not None:
            return failure
        assert claims is not None
        granted = _granted(claims, probes.own_repo)
        if granted != {"pull", "push"}:
            return Failure("ATCR-AUTH-02", "the token does not grant exactly what the user may do",
                           f"{probe.case}: access for {probes.own_repo} is {sorted(granted)}, "
                           "expected ['pull', 'push']", (probe.response,))
    return None


def _token_claims(
    requirement: str, probe: Probe, jwks: Any, service: str | None
) -> tuple[dict[str, Any] | None, Failure | None]:
    """The verified claims of a token response, or the Failure saying why there are none."""
    response = probe.response
    body = body_of(response)
    if response.status_code != 200 or body is None:
        return None, Failure(requirement, "a correct token request was refused",
                             f"{probe.case}: expected 200 JSON, got {_describe(response)}",
                             (response,))
    missing = [f for f in TOKEN_FIELDS if f not in body]
    if missing:
        return None, Failure(requirement, "the token response lacks fields docker reads",
                             f"{probe.case}: missing {missing}", (response,))
    token = body.get("token")
    if not isinstance(token, str):
        return None, Failure(requirement, "the token is not a string", probe.case, (response,))
    claims, why = _verify_token(token, jwks, service)
    if claims is None:
        return None, Failure(requirement, "the registry token is not a valid signed JWT",
                             f"{probe.case}: {why}", (response,))
    return claims, None


def check_foreign_token(probes: TokenProbes) -> Failure | None:
    """ATCR-AUTH-03 (token half): a token asked with push on another user's repository grants
    at most pull there."""
    body = body_of(probes.other.response)
    token = body.get("token") if body else None
    parts = jwt_parts(token) if isinstance(token, str) else None
    if parts is None:
        return None  # no token at all is a refusal, which is fine for someone else's repo
    granted = _granted(parts[1], probes.other_repo)
    if granted - {"pull"}:
        return Failure("ATCR-AUTH-03", "a token grants push on another user's repository",
                       f"{probes.other.case}: access for {probes.other_repo} is "
                       f"{sorted(granted)}, expected at most ['pull']", (probes.other.response,))
    return None


# --- ATCR-AUTH-03 --------------------------------------------------------------------------------


def check_namespace_protection(probes: CrossNamespaceProbes) -> Failure | None:
    """ATCR-AUTH-03: a wrong password → 401 UNAUTHORIZED; writing into another user's
    namespace → 401/403 DENIED/UNAUTHORIZED, and no record appears in either PDS."""
    own = [p for b in probes.own_blobs for p in (b.start, b.finish)]
    if (failure := _refused_control("ATCR-AUTH-03", own)) is not None:
        return failure
    wrong = probes.wrong_password.response
    if wrong.status_code != 401 or "UNAUTHORIZED" not in oci_error_codes(wrong):
        return Failure("ATCR-AUTH-03", "a wrong password is not refused with 401 UNAUTHORIZED",
                       f"{probes.wrong_password.case}: got {_describe(wrong)}", (wrong,))
    for probe in (probes.upload_other, probes.manifest_other):
        response = probe.response
        codes = set(oci_error_codes(response))
        if response.status_code not in (401, 403) or not codes & {"DENIED", "UNAUTHORIZED"}:
            return Failure("ATCR-AUTH-03", "a user could write into another user's namespace",
                           f"{probe.case}: expected 401/403 DENIED, got {_describe(response)}",
                           (response,))
    for listing in probes.after.listings:
        before = probes.before.listing(listing.did, listing.collection)
        if before is None or not before.complete or not listing.complete:
            continue
        new = listing.uris() - before.uris()
        if new:
            return Failure("ATCR-AUTH-03", "a refused push still wrote records",
                           f"new {listing.collection} records in {listing.did}: {sorted(new)}",
                           tuple(p.response for p in listing.pages[-1:]))
    return None


# --- ATCR-AUTH-04 --------------------------------------------------------------------------------


def check_tampered_tokens(probes: TamperedTokenProbes) -> Failure | None:
    """ATCR-AUTH-04: an expired (claims altered) or tampered registry token → 401."""
    if probes.control is None:
        return Failure("ATCR-AUTH-04", "no registry token to tamper with",
                       f"{probes.token_response.case}: expected 200 with a JWT, got "
                       f"{_describe(probes.token_response.response)}",
                       (probes.token_response.response,))
    control = probes.control.response
    if control.status_code in (401, 403) or control.status_code >= 500:
        return Failure("ATCR-AUTH-04", "the valid token itself was refused, so refusals prove "
                       "nothing", f"{probes.control.case}: got {_describe(control)}", (control,))
    for probe in probes.cases:
        if probe.response.status_code != 401:
            return Failure("ATCR-AUTH-04", "an altered registry token was accepted",
                           f"{probe.case}: expected 401, got {_describe(probe.response)}",
                           (probe.response,))
    return None


# --- ATCR-OAUTH-01 -------------------------------------------------------------------------------


def _under(url: Any, base: str) -> bool:
    if not isinstance(url, str):
        return False
    u, b = urlsplit(url), urlsplit(base)
    return (u.scheme, u.netloc) == (b.scheme, b.netloc) and u.path.startswith(b.path.rstrip("/"))


def _has_keys(doc: Any) -> bool:
    keys = doc.get("keys") if isinstance(doc, dict) else None
    return isinstance(keys, list) and any(isinstance(k, dict) and k.get("kty") for k in keys)


def check_client_metadata(probes: ClientMetadataProbes) -> Failure | None:
    """ATCR-OAUTH-01: the AppView's OAuth client metadata is served and complete."""
    response = probes.metadata.response
    url = str(response.request.url)
    if response.status_code != 200:
        return Failure("ATCR-OAUTH-01", "client metadata not served (PDSes answer "
                       "unauthorized_client)", f"{probes.metadata.case}: expected 200 JSON, got "
                       f"{_describe(response)}", (response,))
    body = json_body(response)
    if not isinstance(body, dict):
        return Failure("ATCR-OAUTH-01", "client metadata is not a JSON object",
                       probes.metadata.case, (response,))
    problems: list[str] = []
    if body.get("client_id") != url:
        problems.append(f"client_id {body.get('client_id')!r} is not its own URL {url!r}")
    redirects = body.get("redirect_uris")
    if not isinstance(redirects, list) or not redirects or not all(
        _under(r, probes.base_url) for r in redirects
    ):
        problems.append(f"redirect_uris {redirects!r} are not under {probes.base_url}")
    if body.get("dpop_bound_access_tokens") is not True:
        problems.append("dpop_bound_access_tokens is not true")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        problems.append(f"token_endpoint_auth_method is "
                        f"{body.get('token_endpoint_auth_method')!r}, expected private_key_jwt")
    if "jwks" in body:
        if not _has_keys(body.get("jwks")):
            problems.append("jwks has no keys")
    elif probes.jwks is None:
        problems.append("neither jwks nor an http(s) jwks_uri")
    elif probes.jwks.response.status_code != 200 or not _has_keys(json_body(probes.jwks.response)):
        problems.append(f"jwks_uri answers {_describe(probes.jwks.response)} without keys")
    grants = body.get("grant_types")
    if not isinstance(grants, list) or not {"authorization_code", "refresh_token"} <= set(grants):
        problems.append(f"grant_types {grants!r} lack authorization_code/refresh_token")
    scope = body.get("scope")
    if not isinstance(scope, str) or "atproto" not in scope.split():
        problems.append(f"scope {scope!r} does not include atproto")
    if not problems:
        return None
    return Failure("ATCR-OAUTH-01", "client metadata incomplete or wrong", "; ".join(problems),
                   (response,) + ((probes.jwks.response,) if probes.jwks else ()))


# --- ATCR-OAUTH-02 -------------------------------------------------------------------------------


def check_appview_login(responses: Sequence[httpx.Response], did: str) -> Failure | None:
    """ATCR-OAUTH-02 (login half): the OAuth login through the PDS ends in the AppView's
    callback answering 200 ``{"did", "loggedIn": true}`` for the user."""
    final = responses[-1]
    body = json_body(final)
    if (
        final.status_code == 200
        and isinstance(body, dict)
        and body.get("loggedIn") is True
        and body.get("did") == did
    ):
        return None
    return Failure("ATCR-OAUTH-02", "the OAuth login through the PDS did not complete",
                   f"final answer of the login (step {len(responses)}): expected 200 "
                   f"{{did: {did}, loggedIn: true}}, got {_describe(final)}", (final,))


def check_appview_clock(
    appview: ClockOffset, pds: ClockOffset, *, warn_at: float = 1.0, fail_at: float = 10.0
) -> Failure | None:
    """ATCR-OAUTH-02 (clock half): CLOCK-01 for the AppView/PDS pair. Only the failing
    threshold fails the requirement (the warning level is recorded as a measurement by the
    suite): an AppView clock that far off makes the PDS refuse its client assertions' iat."""
    finding = check_clock_pair(appview, pds, warn_at=warn_at, fail_at=fail_at)
    if finding is None or finding.severity != FAIL:
        return None
    return Failure("ATCR-OAUTH-02", "the AppView's and the PDS's clocks disagree",
                   finding.message, finding.responses)


# --- ATCR-OAUTH-03 -------------------------------------------------------------------------------


def check_no_session_push(probes: NoSessionProbes) -> Failure | None:
    """ATCR-OAUTH-03: without an OAuth session, login (token) works but pushes answer 401
    UNAUTHORIZED telling the user to log in again — never a 5xx."""
    token = probes.token.response
    body = body_of(token)
    if token.status_code != 200 or body is None or not isinstance(body.get("token"), str):
        return Failure("ATCR-OAUTH-03", "docker login (token with push) fails for a user "
                       "without an OAuth session", f"{probes.token.case}: expected 200, got "
                       f"{_describe(token)}", (token,))
    for probe in (probes.upload, probes.manifest):
        response = probe.response
        if response.status_code >= 500:
            return Failure("ATCR-OAUTH-03", "a push without an OAuth session failed with a 5xx",
                           f"{probe.case}: expected 401 UNAUTHORIZED, got {_describe(response)}",
                           (response,))
        codes = oci_error_codes(response)
        if response.status_code != 401 or "UNAUTHORIZED" not in codes:
            return Failure("ATCR-OAUTH-03", "a push without an OAuth session is not a 401 "
                           "UNAUTHORIZED", f"{probe.case}: got {_describe(response)}",
                           (response,))
        if not any(_LOGIN_AGAIN.search(m) for m in oci_error_messages(response)):
            return Failure("ATCR-OAUTH-03", "the 401 does not tell the user to log in again",
                           f"{probe.case}: error messages {list(oci_error_messages(response))}",
                           (response,))
    return None


# --- ATCR-REC-01 ---------------------------------------------------------------------------------


def _descriptor_matches(record_ref: Any, descriptor: Mapping[str, Any]) -> bool:
    return (
        isinstance(record_ref, dict)
        and record_ref.get("digest") == descriptor.get("digest")
        and record_ref.get("size") == descriptor.get("size")
        and record_ref.get("mediaType") == descriptor.get("mediaType")
    )


def check_push_records(probes: PushedRecords) -> Failure | None:
    """ATCR-REC-01: the owner's PDS holds io.atcr.manifest (digest, config, layers, holdDid)
    and io.atcr.tag pointing at it."""
    if (failure := push_failure("ATCR-REC-01", probes.push)) is not None:
        return failure
    manifest_doc = json.loads(probes.push.manifest.content)
    digest = probes.push.manifest.digest
    path = repository_path(probes.push.name)
    matches = [r for r in probes.manifests.records
               if isinstance(r.get("value"), dict) and r["value"].get("digest") == digest]
    evidence = tuple(p.response for p in probes.manifests.pages[-1:])
    if not matches:
        return Failure("ATCR-REC-01", "no io.atcr.manifest record for the pushed manifest",
                       f"{probes.user.handle}'s PDS has {len(probes.manifests.records)} "
                       f"io.atcr.manifest records, none with digest {digest}", evidence)
    record = matches[0]
    value = record["value"]
    problems: list[str] = []
    if value.get("repository") != path:
        problems.append(f"repository {value.get('repository')!r}, expected {path!r}")
    if not _descriptor_matches(value.get("config"), manifest_doc["config"]):
        problems.append("config does not match the manifest's config descriptor")
    layers = value.get("layers")
    want = manifest_doc["layers"]
    if not isinstance(layers, list) or len(layers) != len(want) or not all(
        _descriptor_matches(a, b) for a, b in zip(layers, want, strict=False)
    ):
        problems.append("layers do not match the manifest's layers")
    if probes.hold.did is None:
        problems.append("the hold's DID document could not be read to compare holdDid")
    elif value.get("holdDid") != probes.hold.did:
        problems.append(f"holdDid {value.get('holdDid')!r}, expected {probes.hold.did!r}")
    if problems:
        return Failure("ATCR-REC-01", "the manifest record does not describe the push",
                       f"{record.get('uri')}: " + "; ".join(problems), evidence)
    tag = find_tag_record(probes.tags, path, probes.push.tag or "")
    if tag is None:
        return Failure("ATCR-REC-01", "no io.atcr.tag record for the pushed tag",
                       f"no io.atcr.tag with repository {path!r} and tag {probes.push.tag!r}",
                       tuple(p.response for p in probes.tags.pages[-1:]))
    if tag["value"].get("manifest") != record.get("uri"):
        return Failure("ATCR-REC-01", "the tag record does not point at the manifest record",
                       f"{tag.get('uri')}: manifest {tag['value'].get('manifest')!r}, expected "
                       f"{record.get('uri')!r}", tuple(p.response for p in probes.tags.pages[-1:]))
    return None


# --- ATCR-REC-02 ---------------------------------------------------------------------------------


def check_unknown_pulls(probes: UnknownPulls) -> Failure | None:
    """ATCR-REC-02: unknown tag/digest → 404 MANIFEST_UNKNOWN; unknown repository → 404
    NAME_UNKNOWN."""
    if (failure := push_failure("ATCR-REC-02", probes.push)) is not None:
        return failure
    for probe, code in ((probes.unknown_tag, "MANIFEST_UNKNOWN"),
                        (probes.unknown_digest, "MANIFEST_UNKNOWN"),
                        (probes.unknown_repo, "NAME_UNKNOWN")):
        if probe is None:
            continue
        response = probe.response
        if response.status_code != 404 or code not in oci_error_codes(response):
            return Failure("ATCR-REC-02", f"a pull with no record is not 404 {code}",
                           f"{probe.case}: got {_describe(response)}", (response,))
    return None


# --- ATCR-REC-03 ---------------------------------------------------------------------------------


def _tags_of(response: httpx.Response) -> list[str] | None:
    body = body_of(response)
    tags = body.get("tags") if body else None
    return [str(t) for t in tags] if isinstance(tags, list) else ([] if body else None)


def check_tag_deletion(probes: TagDeletion) -> Failure | None:
    """ATCR-REC-03: after the tag record is deleted in the PDS, the registry no longer lists
    or serves the tag."""
    if (failure := push_failure("ATCR-REC-03", probes.push)) is not None:
        return failure
    if (failure := _refused_control("ATCR-REC-03", (probes.before_list, probes.before_pull))) \
            is not None:
        return failure
    if probes.tag_record_uri is None or probes.delete is None:
        return Failure("ATCR-REC-03", "no io.atcr.tag record to delete",
                       f"the push of {probes.push.name}:{probes.tag} left no tag record in the "
                       "owner's PDS", ())
    if (failure := _refused_control("ATCR-REC-03", (probes.delete,))) is not None:
        return failure
    assert probes.after_list is not None and probes.after_pull is not None
    listed = _tags_of(probes.after_list.response)
    if listed is not None and probes.tag in listed:
        return Failure("ATCR-REC-03", "a tag deleted in the PDS is still listed",
                       f"{probes.after_list.case}: tags {listed}",
                       (probes.after_list.response,))
    if listed is None and not (probes.after_list.response.status_code == 404
                               and "NAME_UNKNOWN" in oci_error_codes(probes.after_list.response)):
        return Failure("ATCR-REC-03", "the tag list failed after the tag record was deleted",
                       f"{probes.after_list.case}: got {_describe(probes.after_list.response)}",
                       (probes.after_list.response,))
    pulled = probes.after_pull.response
    if pulled.status_code != 404 or "MANIFEST_UNKNOWN" not in oci_error_codes(pulled):
        return Failure("ATCR-REC-03", "a tag deleted in the PDS is still served",
                       f"{probes.after_pull.case}: expected 404 MANIFEST_UNKNOWN, got "
                       f"{_describe(pulled)}", (pulled,))
    return None


# --- ATCR-REC-04 ---------------------------------------------------------------------------------


def check_round_trip(probes: RoundTrip) -> Failure | None:
    """ATCR-REC-04: the manifest pulled by tag and by digest is byte-identical to the push."""
    if (failure := push_failure("ATCR-REC-04", probes.push)) is not None:
        return failure
    for probe in (probes.by_tag, probes.by_digest):
        if probe is None:
            continue
        response = probe.response
        if response.status_code != 200:
            return Failure("ATCR-REC-04", "a pushed manifest could not be pulled",
                           f"{probe.case}: got {_describe(response)}", (response,))
        if response.content != probes.push.manifest.content:
            return Failure("ATCR-REC-04", "pulled manifest bytes differ from the pushed ones",
                           f"{probe.case}: pulled {digest_of(response.content)} "
                           f"({len(response.content)} bytes), pushed {probes.push.manifest.digest}"
                           f" ({probes.push.manifest.size} bytes)", (response,))
        header = response.headers.get("docker-content-digest")
        if header is not None and header != probes.push.manifest.digest:
            return Failure("ATCR-REC-04", "Docker-Content-Digest is not the pushed digest",
                           f"{probe.case}: {header}", (response,))
    return None


# --- ATCR-HOLD-01 --------------------------------------------------------------------------------


def check_hold_did_document(probe: Probe, hold_url: str) -> Failure | None:
    """ATCR-HOLD-01: did:web id matching the hold's host, ``#atproto`` Multikey, and a service
    endpoint equal to the hold URL."""
    response = probe.response
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return Failure("ATCR-HOLD-01", "the hold serves no DID document",
                       f"{probe.case}: expected 200 JSON, got {_describe(response)}", (response,))
    problems: list[str] = []
    did = body.get("id")
    if not isinstance(did, str) or not did.startswith("did:web:"):
        problems.append(f"id {did!r} is not a did:web")
    elif urlsplit(did_web_url(did) or "").netloc != urlsplit(hold_url).netloc:
        problems.append(f"id {did} does not name the hold's host {urlsplit(hold_url).netloc}")
    methods = body.get("verificationMethod")
    atproto = [m for m in methods if isinstance(m, dict) and isinstance(m.get("id"), str)
               and m["id"] in ("#atproto", f"{did}#atproto")] if isinstance(methods, list) else []
    if not atproto:
        problems.append("no #atproto verification method")
    elif atproto[0].get("type") != "Multikey" or not isinstance(
        atproto[0].get("publicKeyMultibase"), str
    ) or not atproto[0]["publicKeyMultibase"].startswith("z"):
        problems.append("the #atproto method is not a Multikey with a base58btc publicKeyMultibase")
    services = body.get("service")
    endpoints = [s.get("serviceEndpoint") for s in services if isinstance(s, dict)] \
        if isinstance(services, list) else []
    if not any(isinstance(e, str) and _same_url(e, hold_url) for e in endpoints):
        problems.append(f"no service endpoint equal to {hold_url} (found {endpoints})")
    if not problems:
        return None
    return Failure("ATCR-HOLD-01", "the hold's DID document is incomplete",
                   f"{probe.case}: " + "; ".join(problems), (response,))


# --- ATCR-HOLD-02 --------------------------------------------------------------------------------


def check_blob_placement(probes: BlobPlacement) -> Failure | None:
    """ATCR-HOLD-02: blob GET via the AppView redirects (307) to the hold or streams, with the
    right bytes; and the blob is in the hold the user's profile (or the default) names."""
    if (failure := push_failure("ATCR-HOLD-02", probes.push)) is not None:
        return failure
    assert probes.blob is not None and probes.appview_get is not None
    digest = probes.blob.digest
    answer = probes.appview_get.response
    if answer.status_code in REDIRECTS:
        if answer.status_code != 307 or probes.followed is None:
            return Failure("ATCR-HOLD-02", "blob GET does not redirect with 307 to the hold",
                           f"{probes.appview_get.case}: got {_describe(answer)}", (answer,))
        served = probes.followed.response
    else:
        served = answer
    if served.status_code != 200 or digest_of(served.content) != digest:
        return Failure("ATCR-HOLD-02", "the blob served through the AppView is wrong",
                       f"{probes.appview_get.case}: expected 200 with bytes of digest {digest}, "
                       f"got {_describe(served)} of digest {digest_of(served.content)}", (served,))
    if probes.expected_hold_did is None or probes.hold_get is None:
        return Failure("ATCR-HOLD-02", "the hold the blob should be in is unknown",
                       f"{probes.profile.case}: {_describe(probes.profile.response)}; no "
                       "defaultHold and no default hold DID", (probes.profile.response,))
    held = probes.hold_get.response
    if held.status_code != 200 or digest_of(held.content) != digest:
        return Failure("ATCR-HOLD-02", "the blob is not in the hold the profile names",
                       f"{probes.hold_get.case}: expected 200 with digest {digest}, got "
                       f"{_describe(held)}", (held,))
    return None


# --- ATCR-HOLD-03 --------------------------------------------------------------------------------


def check_crew_rules(probes: CrewProbes) -> Failure | None:
    """ATCR-HOLD-03: a non-crew user cannot push to a hold with allowAllCrew false (DENIED,
    nothing stored); a public hold serves blobs without crew membership."""
    captain = probes.captain.response
    public, allow_all = captain_settings(probes.captain)
    if captain.status_code != 200 or (public is None and allow_all is None):
        return Failure("ATCR-HOLD-03", "the hold's captain record cannot be read",
                       f"{probes.captain.case}: got {_describe(captain)}", (captain,))
    if probes.outsider_push is not None:
        last = probes.outsider_push.last.response
        if 200 <= last.status_code < 300 and probes.outsider_push.finish is not None:
            return Failure("ATCR-HOLD-03", "a user who is not crew pushed a blob to the hold",
                           f"{probes.outsider_push.last.case}: expected 403 DENIED, got "
                           f"{_describe(last)}", (last,))
        if probes.outsider_push.finish is None and probes.outsider_push.start.response.status_code \
                == 202:
            return Failure("ATCR-HOLD-03", "the non-crew push gave no answer", "", (last,))
        if last.status_code != 403 or "DENIED" not in oci_error_codes(last):
            return Failure("ATCR-HOLD-03", "a non-crew push is not refused with 403 DENIED",
                           f"{probes.outsider_push.last.case}: got {_describe(last)}", (last,))
        if probes.outsider_blob_in_hold is not None and \
                probes.outsider_blob_in_hold.response.status_code == 200:
            return Failure("ATCR-HOLD-03", "a refused non-crew blob was stored anyway",
                           probes.outsider_blob_in_hold.case,
                           (probes.outsider_blob_in_hold.response,))
    if probes.crew_push is not None:
        if (failure := _refused_control("ATCR-HOLD-03", (probes.crew_push.start,
                                                         probes.crew_push.finish))) is not None:
            return failure
        read = probes.anonymous_read
        assert read is not None
        if read.response.status_code != 200 or digest_of(read.response.content) != \
                probes.crew_push.blob.digest:
            return Failure("ATCR-HOLD-03", "a public hold refused an unauthenticated read",
                           f"{read.case}: expected 200 with the blob, got "
                           f"{_describe(read.response)}", (read.response,))
    return None


def crew_parts_applicable(probes: CrewProbes) -> bool:
    return probes.outsider_push is not None or probes.crew_push is not None


# --- ATCR-HOLD-04 --------------------------------------------------------------------------------


def _outage_problem(probe: TimedProbe, *, head: bool = False) -> str | None:
    if probe.response is None:
        return f"{probe.case}: {probe.error} after {probe.elapsed_s:.1f} s"
    if probe.elapsed_s > OUTAGE_LIMIT_S:
        return f"{probe.case}: answered after {probe.elapsed_s:.1f} s (limit {OUTAGE_LIMIT_S:g} s)"
    if probe.response.status_code < 500:
        return f"{probe.case}: expected a 5xx, got {_describe(probe.response)}"
    if not head and not oci_error_codes(probe.response):
        return f"{probe.case}: the {probe.response.status_code} has no OCI error body"
    return None


def check_hold_outage(probes: OutageProbes) -> Failure | None:
    """ATCR-HOLD-04: with the hold down, a push (also one begun before the outage) and a pull
    fail within 10 s with a 5xx and an OCI error body; once it is back, the same push succeeds
    and what was pushed before the outage is still there."""
    warm = probes.warmup
    if (failure := _refused_control("ATCR-HOLD-04", (warm.start, warm.finish))) is not None:
        return failure
    if warm.finish is None:
        return Failure("ATCR-HOLD-04", "no upload session to warm up with", warm.start.case,
                       (warm.start.response,))
    push = probes.push_during[-1] if probes.push_during else None
    problems: list[str] = []
    for probe in (probes.finish_mid_push, push):
        if probe is not None and (problem := _outage_problem(probe)) is not None:
            problems.append(problem)
    if probes.head_during is not None and (
        problem := _outage_problem(probes.head_during, head=True)
    ) is not None:
        problems.append(problem)
    get = probes.get_during
    if get is not None:
        redirected = get.response is not None and get.response.status_code == 307 \
            and get.elapsed_s <= OUTAGE_LIMIT_S
        # A 307 to the hold is answered without contacting it; HEAD then shows the outage.
        if not redirected and (problem := _outage_problem(get)) is not None:
            problems.append(problem)
    if problems:
        shown = tuple(p.response for p in (probes.finish_mid_push, push, probes.head_during, get)
                      if p is not None and p.response is not None)
        return Failure("ATCR-HOLD-04", "a hold outage is not reported fast with a 5xx",
                       "; ".join(problems), shown)
    after = probes.push_after
    if after is None or after.finish is None or after.finish.response.status_code != 201:
        response = after.last.response if after else None
        return Failure("ATCR-HOLD-04", "the push fails after the hold came back",
                       f"{after.last.case if after else 'push after restart'}: expected 201, got "
                       f"{_describe(response)}", (response,) if response else ())
    kept = probes.warm_after
    if kept is not None and (
        kept.response.status_code != 200
        or digest_of(kept.response.content) != warm.blob.digest
    ):
        return Failure("ATCR-HOLD-04", "a blob pushed before the outage is lost after it",
                       f"{kept.case}: expected 200 with digest {warm.blob.digest}, got "
                       f"{_describe(kept.response)} of digest {digest_of(kept.response.content)}",
                       (kept.response,))
    return None


# --- ATCR-HOLD-05 --------------------------------------------------------------------------------


def _run_refusal(run: MultipartRun) -> Failure | None:
    for probe in run.probes:
        if probe is run.complete or probe is run.fetch:
            continue
        if not 200 <= probe.response.status_code < 300:
            return Failure("ATCR-HOLD-05", "a multipart upload step was refused",
                           f"{probe.case}: expected 2xx, got {_describe(probe.response)}",
                           (probe.response,))
    return None


def check_multipart(probes: MultipartProbes) -> Failure | None:
    """ATCR-HOLD-05: initiate → parts → complete stores the blob under its digest; a wrong
    digest at completion is an error and stores nothing; an aborted upload is gone."""
    if probes.hold_did is None or probes.good is None:
        return Failure("ATCR-HOLD-05", "the hold's DID is unknown", probes.identity.case,
                       (probes.identity.response,))
    good = probes.good
    if (failure := _run_refusal(good)) is not None:
        return failure
    if len(good.etags) < 2 or good.complete is None or good.fetch is None:
        return Failure("ATCR-HOLD-05", "the two-part upload did not reach completion",
                       f"{good.label}: {len(good.etags)} part(s) stored", ())
    if good.complete.response.status_code != 200:
        return Failure("ATCR-HOLD-05", "completing a correct multipart upload failed",
                       f"{good.complete.case}: got {_describe(good.complete.response)}",
                       (good.complete.response,))
    fetched = good.fetch.response
    if fetched.status_code != 200 or digest_of(fetched.content) != probes.good_data_digest:
        return Failure("ATCR-HOLD-05", "the completed blob is missing or wrong",
                       f"{good.fetch.case}: expected 200 with digest {probes.good_data_digest}, "
                       f"got {_describe(fetched)}", (fetched,))
    wrong = probes.wrong
    if wrong is not None:
        if (failure := _run_refusal(wrong)) is not None:
            return failure
        if wrong.complete is not None and 200 <= wrong.complete.response.status_code < 300:
            return Failure("ATCR-HOLD-05", "a multipart upload with a wrong digest was accepted",
                           f"{wrong.complete.case}: expected a 400 error, got "
                           f"{_describe(wrong.complete.response)}", (wrong.complete.response,))
        if wrong.fetch is not None and wrong.fetch.response.status_code == 200:
            return Failure("ATCR-HOLD-05", "a blob with a wrong digest was stored",
                           f"{wrong.fetch.case}: 200", (wrong.fetch.response,))
    if probes.abort is not None:
        if probes.aborted is not None and (failure := _run_refusal(probes.aborted)) is not None:
            return failure
        if probes.abort.response.status_code != 200:
            return Failure("ATCR-HOLD-05", "abortUpload failed",
                           f"{probes.abort.case}: got {_describe(probes.abort.response)}",
                           (probes.abort.response,))
        for probe in (probes.part_after_abort, probes.complete_after_abort):
            if probe is not None and probe.response.status_code != 404:
                return Failure("ATCR-HOLD-05", "an aborted upload is still usable",
                               f"{probe.case}: expected 404 UploadNotFound, got "
                               f"{_describe(probe.response)}", (probe.response,))
    return None


# --- ATCR-CONC-01 --------------------------------------------------------------------------------


def check_concurrent_layers(push: ImagePush) -> Failure | None:
    """ATCR-CONC-01: a push with layers uploaded concurrently succeeds and no response carries
    ``use_dpop_nonce``."""
    for probe in push.probes:
        if b"use_dpop_nonce" in probe.response.content or "use_dpop_nonce" in \
                probe.response.headers.get("www-authenticate", ""):
            return Failure("ATCR-CONC-01", "a DPoP nonce error reached the registry client",
                           f"{probe.case}: {_describe(probe.response)}", (probe.response,))
    failure = push_failure("ATCR-CONC-01", push)
    if failure is None:
        return None
    return Failure("ATCR-CONC-01", "a push with concurrent layer uploads failed",
                   failure.message, failure.responses)


# --- ATCR-CONC-02 --------------------------------------------------------------------------------


def check_same_tag_race(probes: SameTagRace) -> Failure | None:
    """ATCR-CONC-02: two users pushing the same tag name at once each get their own image back,
    and each PDS holds only its own owner's records."""
    digests = {race.user.did: race.push.manifest.digest for race in probes.pushes}
    for race in probes.pushes:
        if (failure := push_failure("ATCR-CONC-02", race.push)) is not None:
            return failure
        assert race.pull is not None
        pulled = race.pull.response
        if pulled.status_code != 200 or digest_of(pulled.content) != race.push.manifest.digest:
            return Failure("ATCR-CONC-02", "a user pulled back an image that is not theirs",
                           f"{race.pull.case}: expected digest {race.push.manifest.digest}, got "
                           f"{_describe(pulled)} of digest {digest_of(pulled.content)}",
                           (pulled,))
    for listing in probes.records.listings:
        own = digests.get(listing.did)
        for record in listing.records:
            uri = str(record.get("uri", ""))
            raw = record.get("value")
            value: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
            if not uri.startswith(f"at://{listing.did}/"):
                return Failure("ATCR-CONC-02", "a record lists under another owner's repo",
                               f"{uri} listed in {listing.did}'s repo", ())
            if value.get("repository") != probes.path:
                continue
            foreign = [d for did, d in digests.items() if did != listing.did]
            if value.get("digest") in foreign and value.get("digest") != own:
                return Failure("ATCR-CONC-02", "a user's PDS holds the other user's manifest",
                               f"{uri}: digest {value.get('digest')} was pushed by another user",
                               tuple(p.response for p in listing.pages[-1:]))
            manifest_uri = value.get("manifest")
            if isinstance(manifest_uri, str) and not manifest_uri.startswith(
                f"at://{listing.did}/"
            ):
                return Failure("ATCR-CONC-02", "a tag record points into another user's repo",
                               f"{uri}: manifest {manifest_uri}",
                               tuple(p.response for p in listing.pages[-1:]))
    return None


# --- ATCR-CLIENT-01 ------------------------------------------------------------------------------


def check_real_clients(run: RealClientRun) -> Failure | None:
    """ATCR-CLIENT-01: every docker and skopeo step exits 0, and the docker push left its
    manifest and tag records in the owner's PDS."""
    for step in run.steps:
        if not step.ok:
            return Failure("ATCR-CLIENT-01", f"{step.label} failed against the registry",
                           step.summary(), ())
    expected = ("docker build", "docker login", "docker push", "docker rmi", "docker pull",
                "skopeo copy docker-daemon → registry", "skopeo copy registry → oci dir",
                "skopeo copy oci dir → registry")
    ran = [s.label for s in run.steps]
    missing = [label for label in expected if label not in ran]
    if missing:
        return Failure("ATCR-CLIENT-01", "the real-client sequence did not run to the end",
                       f"steps not run: {missing}", ())
    if run.pushed_digest is None:
        return Failure("ATCR-CLIENT-01", "docker push reported no digest",
                       "the push output has no 'digest: sha256:…' line", ())
    path = repository_path(run.docker_repository)
    for listing, field_name, want in (
        (run.manifests, "digest", run.pushed_digest),
        (run.tags, "tag", "v1"),
    ):
        if listing is None:
            return Failure("ATCR-CLIENT-01", "the owner's records could not be listed", "", ())
        found = [v for v in listing.values()
                 if v.get("repository") == path and v.get(field_name) == want]
        if not found:
            return Failure("ATCR-CLIENT-01", f"docker push left no {listing.collection} record",
                           f"no {listing.collection} with repository {path!r} and {field_name} "
                           f"{want!r} in {listing.did}'s PDS",
                           tuple(p.response for p in listing.pages[-1:]))
    return None
