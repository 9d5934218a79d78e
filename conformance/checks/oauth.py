"""The PDS's OAuth authorization server (PDS-06..PDS-11): one small check per requirement facet.

Each check takes what a ``conformance.scenarios.oauth`` probe returned and answers
``Failure | None``. Checks of negative cases look at the probe set's *control* first: when a
correct request was refused, the refusals prove nothing and the check says so instead of
passing. Messages quote probe descriptions, status codes, OAuth error names and claim *names*
only — never tokens, codes, verifiers, assertions or proofs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
import jwt

from conformance.checks.base import Failure
from conformance.checks.common import control_failure
from conformance.clients.oauth import parse_forms
from conformance.scenarios.base import NegativeProbes, Probe, describe_response, json_body
from conformance.scenarios.oauth import (
    AsNonceProbes,
    AuthorizationProbes,
    DiscoveryProbes,
    RefreshReuse,
    RevocationProbes,
    TokenExchange,
    is_success,
    oauth_error,
    redirect_params,
    redirect_target,
)

USE_DPOP_NONCE = "use_dpop_nonce"
INVALID_REQUEST = "invalid_request"
INVALID_GRANT = "invalid_grant"
INVALID_CLIENT = "invalid_client"
UNAUTHORIZED_CLIENT = "unauthorized_client"
MAX_ACCESS_TOKEN_LIFETIME_S = 15 * 60
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
ACCESS_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "scope")
ASYMMETRIC_ALGS = ("ES256", "ES256K", "ES384", "ES512", "RS256", "PS256", "EdDSA")


def _describe(response: httpx.Response) -> str:
    """``describe_response`` plus the OAuth error name, which it does not show for 3xx/HTML."""
    described = describe_response(response)
    if response.is_redirect:
        params = redirect_params(response)
        shown = sorted(k for k in params if k in ("code", "state", "iss", "error"))
        error = params.get("error")
        described += f" redirect carrying {', '.join(shown) or 'no parameters'}"
        if error:
            described += f" (error {error!r})"
    return described


def refusal_problem(
    probe: Probe,
    *,
    error: str | None = None,
    status: int | None = 400,
    forbidden_fields: Sequence[str] = (),
) -> str | None:
    """Why ``probe`` was not refused as required, or None when it was.

    ``status=None`` accepts any 4xx; ``error`` is the OAuth error name the JSON body must carry;
    ``forbidden_fields`` are body members a refusal must not carry (``access_token``...).
    """
    response = probe.response
    expected = f"{status}" if status is not None else "a 4xx refusal"
    if error is not None:
        expected += f' with {{"error": "{error}"}}'
    ok_status = (
        response.status_code == status if status is not None else 400 <= response.status_code < 500
    )
    if not ok_status or (error is not None and oauth_error(response) != error):
        return f"{probe.case}: expected {expected}, got {_describe(response)}"
    body = json_body(response)
    if isinstance(body, dict):
        leaked = [name for name in forbidden_fields if name in body]
        if leaked:
            return f"{probe.case}: refused, but the body still carries {', '.join(leaked)}"
    return None


def _judge(
    requirement: str,
    title: str,
    probes: NegativeProbes,
    *,
    error: str | None,
    status: int | None = 400,
    forbidden_fields: Sequence[str] = (),
) -> Failure | None:
    if (failure := control_failure(requirement, probes.control)) is not None:
        return failure
    bad = [
        (p, problem)
        for p in probes.cases
        if (
            problem := refusal_problem(
                p, error=error, status=status, forbidden_fields=forbidden_fields
            )
        )
    ]
    if not bad:
        return None
    return Failure(
        requirement,
        title,
        "; ".join(problem for _, problem in bad),
        tuple(p.response for p, _ in bad),
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    body = json_body(response)
    return body if isinstance(body, dict) else None


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


# --- PDS-06 ---------------------------------------------------------------------------------


def _metadata_problems(metadata: Mapping[str, Any], issuer: str | None) -> Iterable[str]:
    for name in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "pushed_authorization_request_endpoint",
    ):
        if not isinstance(metadata.get(name), str) or not metadata.get(name):
            yield f"{name} is missing or not a string"
    if issuer is not None and isinstance(metadata.get("issuer"), str):
        if metadata["issuer"].rstrip("/") != issuer.rstrip("/"):
            yield (
                f"issuer {metadata['issuer']!r} is not the URL the metadata was fetched from "
                f"({issuer!r}, RFC 8414 §3.3)"
            )
    for name in (
        "require_pushed_authorization_requests",
        "client_id_metadata_document_supported",
        "authorization_response_iss_parameter_supported",
    ):
        if metadata.get(name) is not True:
            yield f"{name} is {metadata.get(name, 'absent')!r}, expected true"
    required_members = {
        "dpop_signing_alg_values_supported": ("ES256",),
        "token_endpoint_auth_methods_supported": ("none", "private_key_jwt"),
        "scopes_supported": ("atproto",),
    }
    for name, members in required_members.items():
        values = _strings(metadata.get(name))
        if values is None:
            yield f"{name} is missing or not a list of strings"
            continue
        missing = [m for m in members if m not in values]
        if missing:
            yield f"{name} {values} lacks {', '.join(missing)}"
    methods = metadata.get("code_challenge_methods_supported")
    if methods != ["S256"]:
        yield f"code_challenge_methods_supported is {methods!r}, expected exactly ['S256']"


def check_server_metadata(probes: DiscoveryProbes) -> Failure | None:
    """PDS-06: the AS metadata carries the ATProto profile fields with the values it requires."""
    probe = probes.server_metadata
    if probe is None:
        return Failure(
            "PDS-06",
            "no authorization server to fetch metadata from",
            f"{probes.resource_metadata.case}: names no authorization server "
            f"({describe_response(probes.resource_metadata.response)})",
            (probes.resource_metadata.response,),
        )
    metadata = _json_object(probe.response) if probe.response.status_code == 200 else None
    if metadata is None:
        return Failure(
            "PDS-06",
            "authorization server metadata is not served as a JSON object",
            f"{probe.case}: expected 200 with a JSON object, "
            f"got {describe_response(probe.response)}",
            (probe.response,),
        )
    problems = list(_metadata_problems(metadata, probes.issuer))
    if not problems:
        return None
    return Failure(
        "PDS-06",
        "authorization server metadata lacks ATProto profile fields or values",
        "; ".join(problems),
        (probe.response,),
    )


def check_protected_resource(probes: DiscoveryProbes) -> Failure | None:
    """PDS-06: the protected-resource metadata names exactly one authorization server, and it
    is the one whose metadata carries that issuer."""
    probe = probes.resource_metadata
    body = _json_object(probe.response) if probe.response.status_code == 200 else None
    if body is None:
        return Failure(
            "PDS-06",
            "protected-resource metadata is not served as a JSON object",
            f"{probe.case}: expected 200 with a JSON object, "
            f"got {describe_response(probe.response)}",
            (probe.response,),
        )
    servers = _strings(body.get("authorization_servers"))
    if servers is None or len(servers) != 1:
        return Failure(
            "PDS-06",
            "protected-resource metadata does not name exactly one authorization server",
            f"{probe.case}: authorization_servers is {body.get('authorization_servers')!r}, "
            "expected a list of exactly one issuer URL",
            (probe.response,),
        )
    metadata = (
        _json_object(probes.server_metadata.response)
        if probes.server_metadata is not None and probes.server_metadata.response.status_code == 200
        else None
    )
    issuer = metadata.get("issuer") if metadata is not None else None
    if not isinstance(issuer, str) or issuer.rstrip("/") != servers[0].rstrip("/"):
        responses: tuple[httpx.Response, ...] = (probe.response,)
        if probes.server_metadata is not None:
            responses += (probes.server_metadata.response,)
        return Failure(
            "PDS-06",
            "the authorization server named is not the issuer of its metadata",
            f"authorization_servers names {servers[0]!r}, the metadata served there has issuer "
            f"{issuer!r}",
            responses,
        )
    return None


def check_jwks_public(probes: DiscoveryProbes) -> Failure | None:
    """PDS-06: ``jwks_uri`` serves a JWKS with at least one key and no private key material."""
    probe = probes.jwks
    if probe is None:
        responses = () if probes.server_metadata is None else (probes.server_metadata.response,)
        return Failure(
            "PDS-06",
            "the authorization server publishes no jwks_uri",
            "expected the metadata to name a jwks_uri serving the token signing keys",
            responses,
        )
    body = _json_object(probe.response) if probe.response.status_code == 200 else None
    keys = body.get("keys") if body is not None else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        return Failure(
            "PDS-06",
            "jwks_uri does not serve a key set",
            f'{probe.case}: expected 200 with {{"keys": [...]}} holding at least one key, '
            f"got {describe_response(probe.response)}",
            (probe.response,),
        )
    private = sorted({m for key in keys for m in PRIVATE_JWK_MEMBERS.intersection(key)})
    if private:
        return Failure(
            "PDS-06",
            "jwks_uri publishes private key material",
            f"{probe.case}: keys carry the private members {', '.join(private)}",
            (probe.response,),
        )
    return None


# --- PDS-07 ---------------------------------------------------------------------------------


def check_unpushed_refused(probes: NegativeProbes) -> Failure | None:
    """PDS-07: an authorization request not pushed through PAR is refused: an error status, or
    a redirect carrying an ``error`` — never the sign-in page or a redirect with a code."""
    if (failure := control_failure("PDS-07", probes.control)) is not None:
        return failure
    problems: list[tuple[Probe, str]] = []
    for probe in probes.cases:
        response = probe.response
        params = redirect_params(response)
        if response.is_redirect and "error" in params and "code" not in params:
            continue
        if 400 <= response.status_code < 500:
            continue
        problems.append((probe, f"{probe.case}: expected a refusal, got {_describe(response)}"))
    if not problems:
        return None
    return Failure(
        "PDS-07",
        "authorization request that was not pushed (PAR) is not refused",
        "; ".join(p for _, p in problems),
        tuple(p.response for p, _ in problems),
    )


def check_par_requires_dpop(probes: NegativeProbes) -> Failure | None:
    """PDS-07: a PAR without a DPoP proof is refused (no ``request_uri``)."""
    return _judge(
        "PDS-07",
        "pushed authorization request without DPoP accepted",
        probes,
        error=None,
        status=None,
        forbidden_fields=("request_uri",),
    )


def check_token_requires_dpop(probes: NegativeProbes) -> Failure | None:
    """PDS-07: a token request without a DPoP proof is refused (no tokens)."""
    return _judge(
        "PDS-07",
        "token request without DPoP accepted",
        probes,
        error=None,
        status=None,
        forbidden_fields=("access_token", "refresh_token"),
    )


def check_as_nonce_challenge(probes: AsNonceProbes) -> Failure | None:
    """PDS-07: the first DPoP request without a nonce → ``400 {"error": "use_dpop_nonce"}`` with
    a ``DPoP-Nonce`` header; the retry with that nonce succeeds."""
    problems: list[str] = []
    first = probes.first
    if problem := refusal_problem(first, error=USE_DPOP_NONCE, status=400):
        problems.append(problem)
    if not first.response.headers.get("dpop-nonce"):
        problems.append(f"{first.case}: the response carries no DPoP-Nonce header")
    if probes.retry is not None and not is_success(probes.retry.response):
        problems.append(
            f"{probes.retry.case}: expected 2xx, got {describe_response(probes.retry.response)}"
        )
    if not problems:
        return None
    responses = [first.response] + ([probes.retry.response] if probes.retry else [])
    return Failure(
        "PDS-07",
        'first DPoP request without a nonce not answered 400 "use_dpop_nonce" with a DPoP-Nonce',
        "; ".join(problems),
        tuple(responses),
    )


# --- PDS-08 ---------------------------------------------------------------------------------


def check_pkce_s256_only(probes: NegativeProbes) -> Failure | None:
    """PDS-08: PAR with ``plain`` PKCE or without a challenge → 400 ``invalid_request``."""
    return _judge(
        "PDS-08",
        "PKCE other than S256 (plain, or no challenge) not refused with invalid_request",
        probes,
        error=INVALID_REQUEST,
        forbidden_fields=("request_uri",),
    )


def check_wrong_verifier(probes: NegativeProbes) -> Failure | None:
    """PDS-08: a code redeemed with a wrong ``code_verifier`` → 400 ``invalid_grant``."""
    return _judge(
        "PDS-08",
        "code redeemed with a wrong PKCE verifier not refused with invalid_grant",
        probes,
        error=INVALID_GRANT,
        forbidden_fields=("access_token", "refresh_token"),
    )


# --- PDS-09 ---------------------------------------------------------------------------------


def check_authorization_page(probes: AuthorizationProbes) -> Failure | None:
    """PDS-09: the authorization endpoint answers a pushed request with an HTML page holding a
    form that POSTs (sign-in / consent)."""
    page = probes.page
    response = page.response
    content_type = response.headers.get("content-type", "")
    if response.status_code != 200 or "text/html" not in content_type:
        return Failure(
            "PDS-09",
            "authorization page is not an HTML page",
            f"{page.case}: expected 200 text/html, got {describe_response(response)}",
            (response,),
        )
    forms = [f for f in parse_forms(response.text) if f.method == "post"]
    if not forms:
        return Failure(
            "PDS-09",
            "authorization page has no form to POST",
            f'{page.case}: the HTML holds no <form method="post"> a harness or headless browser '
            "could submit (handle, password, consent)",
            (response,),
        )
    return None


def check_authorization_redirect(probes: AuthorizationProbes, issuer: str) -> Failure | None:
    """PDS-09: the form POST ends in a redirect to the client's ``redirect_uri`` carrying
    ``code``, the ``state`` sent and ``iss`` equal to the issuer."""
    if not probes.submissions:
        return Failure(
            "PDS-09",
            "the authorization form could not be submitted",
            f"{probes.page.case}: got {describe_response(probes.page.response)}; no POST form "
            "to submit",
            (probes.page.response,),
        )
    last = probes.submissions[-1]
    response = last.response
    if not response.is_redirect:
        return Failure(
            "PDS-09",
            "form POST with correct credentials and consent did not redirect to the client",
            f"{last.case}: expected a 3xx redirect, got {describe_response(response)}",
            (response,),
        )
    params = redirect_params(response)
    problems: list[str] = []
    target = redirect_target(response)
    if target != probes.redirect_uri.split("?", 1)[0]:
        problems.append("the redirect does not go to the client's redirect_uri")
    if "error" in params:
        problems.append(f"the redirect carries error {params['error']!r}")
    if not params.get("code"):
        problems.append("the redirect carries no code")
    if "state" not in params:
        problems.append("the redirect carries no state")
    elif params["state"] != probes.state:
        problems.append("the redirect's state is not the state sent")
    if "iss" not in params:
        problems.append("the redirect carries no iss")
    elif params["iss"].rstrip("/") != issuer.rstrip("/"):
        problems.append(f"the redirect's iss {params['iss']!r} is not the issuer {issuer!r}")
    if not problems:
        return None
    return Failure(
        "PDS-09",
        "authorization redirect lacks code, state or iss",
        f"{last.case}: " + "; ".join(problems),
        (response,),
    )


# --- PDS-10 ---------------------------------------------------------------------------------


def _token_body(exchange: TokenExchange) -> dict[str, Any] | None:
    response = exchange.response.response
    return _json_object(response) if response.status_code == 200 else None


def _token_failure(exchange: TokenExchange) -> Failure:
    probe = exchange.response
    return Failure(
        "PDS-10",
        "a correct token request was refused",
        f"{probe.case}: expected 200 with a JSON token response, "
        f"got {describe_response(probe.response)}",
        (probe.response,),
    )


def check_token_response(exchange: TokenExchange, did: str) -> Failure | None:
    """PDS-10: the token response carries ``access_token``, ``token_type`` DPoP, ``sub`` (the
    user's DID), ``scope`` (with atproto) and a ``refresh_token``."""
    body = _token_body(exchange)
    if body is None:
        return _token_failure(exchange)
    problems: list[str] = []
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        problems.append("no access_token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "dpop":
        problems.append(f"token_type is {token_type!r}, expected DPoP")
    if body.get("sub") != did:
        problems.append(f"sub is {body.get('sub')!r}, expected the user's DID {did}")
    scope = body.get("scope")
    if not isinstance(scope, str) or "atproto" not in scope.split(" "):
        problems.append(f"scope is {scope!r}, expected a scope string including atproto")
    if not isinstance(body.get("refresh_token"), str) or not body["refresh_token"]:
        problems.append("no refresh_token")
    if not problems:
        return None
    return Failure(
        "PDS-10",
        "token response lacks sub, scope, token_type DPoP or tokens",
        f"{exchange.response.case}: " + "; ".join(problems),
        (exchange.response.response,),
    )


def _decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return dict(header), dict(claims)


def _access_token(exchange: TokenExchange) -> str | None:
    body = _token_body(exchange)
    token = body.get("access_token") if body is not None else None
    return token if isinstance(token, str) and token else None


def _claim_problems(
    header: Mapping[str, Any], claims: Mapping[str, Any], did: str, issuer: str, jkt: str
) -> Iterable[str]:
    if header.get("alg") != "ES256":
        yield f"alg is {header.get('alg')!r}, expected ES256"
    missing = [name for name in ACCESS_TOKEN_CLAIMS if name not in claims]
    if missing:
        yield f"claims {', '.join(missing)} are missing"
    if "iss" in claims and str(claims["iss"]).rstrip("/") != issuer.rstrip("/"):
        yield f"iss {claims['iss']!r} is not the issuer {issuer!r}"
    if "sub" in claims and claims["sub"] != did:
        yield f"sub {claims['sub']!r} is not the user's DID {did}"
    iat, exp = claims.get("iat"), claims.get("exp")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (iat, exp))
    if "iat" in claims and "exp" in claims and not numbers:
        yield "iat and exp are not numbers"
    elif numbers:
        assert isinstance(iat, int | float) and isinstance(exp, int | float)
        if exp <= iat:
            yield "exp is not after iat"
        elif exp - iat > MAX_ACCESS_TOKEN_LIFETIME_S:
            yield f"lifetime exp - iat is {exp - iat:g} s, more than 15 min"
    if "scope" in claims and (
        not isinstance(claims["scope"], str) or "atproto" not in claims["scope"].split(" ")
    ):
        yield f"scope {claims['scope']!r} does not include atproto"
    cnf = claims.get("cnf")
    bound = cnf.get("jkt") if isinstance(cnf, dict) else None
    if bound is None:
        yield "cnf.jkt is missing (the token is not bound to the DPoP key)"
    elif bound != jkt:
        yield "cnf.jkt is not the thumbprint of the client's DPoP key"


def check_access_token_claims(exchange: TokenExchange, did: str, issuer: str) -> Failure | None:
    """PDS-10: the access token is an ES256 JWT with iss (the issuer), sub (the user's DID),
    aud, exp at most 15 min after iat, iat, jti, scope and ``cnf.jkt`` = the DPoP key's
    thumbprint."""
    token = _access_token(exchange)
    if token is None:
        return _token_failure(exchange)
    decoded = _decode_unverified(token)
    if decoded is None:
        return Failure(
            "PDS-10",
            "access token is not a JWT",
            f"{exchange.response.case}: the access_token does not parse as a JWS compact JWT",
            (exchange.response.response,),
        )
    problems = list(_claim_problems(*decoded, did, issuer, exchange.jkt))
    if not problems:
        return None
    return Failure(
        "PDS-10",
        "access token claims do not follow the ATProto profile",
        "; ".join(problems),
        (exchange.response.response,),
    )


def check_access_token_signature(exchange: TokenExchange, jwks: Probe | None) -> Failure | None:
    """PDS-10: the access token's signature verifies with a key served at the ``jwks_uri``."""
    token = _access_token(exchange)
    if token is None:
        return _token_failure(exchange)
    if jwks is None:
        return Failure(
            "PDS-10",
            "no jwks_uri to verify access tokens with",
            "the authorization server metadata names no jwks_uri",
            (exchange.response.response,),
        )
    body = _json_object(jwks.response) if jwks.response.status_code == 200 else None
    keys = body.get("keys") if body is not None else None
    if not isinstance(keys, list):
        return Failure(
            "PDS-10",
            "jwks_uri serves no key set",
            f"{jwks.case}: got {describe_response(jwks.response)}",
            (jwks.response,),
        )
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        header = {}
    alg = header.get("alg")
    kid = header.get("kid")
    candidates = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    for jwk in candidates if alg in ASYMMETRIC_ALGS else []:
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=str(alg)).key
            jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        return None
    return Failure(
        "PDS-10",
        "access token signature does not verify with the keys at jwks_uri",
        f"none of the {len(candidates)} matching key(s) of {len(keys)} at the jwks_uri "
        f"verifies the access token (alg {alg!r}, kid {'present' if kid else 'absent'})",
        (exchange.response.response, jwks.response),
    )


def check_refresh_single_use(probes: RefreshReuse) -> Failure | None:
    """PDS-10: a refresh succeeds once; the same refresh token again → 400 ``invalid_grant``."""
    if (failure := control_failure("PDS-10", probes.first)) is not None:
        return failure
    problem = refusal_problem(
        probes.reuse, error=INVALID_GRANT, forbidden_fields=("access_token", "refresh_token")
    )
    if problem is None:
        return None
    return Failure(
        "PDS-10",
        "reused refresh token not refused with invalid_grant",
        problem,
        (probes.first.response, probes.reuse.response),
    )


def check_refresh_key_binding(probes: NegativeProbes) -> Failure | None:
    """PDS-10: a refresh token presented with another DPoP key is refused."""
    return _judge(
        "PDS-10",
        "refresh token accepted with a proof by another DPoP key",
        probes,
        error=None,
        status=None,
        forbidden_fields=("access_token", "refresh_token"),
    )


def check_revocation(probes: RevocationProbes) -> Failure | None:
    """PDS-10: after revocation the access token is refused at the PDS (401) and the refresh
    token at the token endpoint."""
    if (failure := control_failure("PDS-10", probes.before)) is not None:
        return failure
    if probes.revoke is None:
        return Failure(
            "PDS-10",
            "the authorization server has no revocation endpoint",
            "expected a revocation_endpoint in the metadata (revocation works)",
            (probes.before.response,),
        )
    problems: list[str] = []
    if not is_success(probes.revoke.response):
        problems.append(
            f"{probes.revoke.case}: expected 200, got {describe_response(probes.revoke.response)}"
        )
    if probes.access_after is not None and probes.access_after.response.status_code != 401:
        problems.append(
            f"{probes.access_after.case}: expected 401, "
            f"got {describe_response(probes.access_after.response)}"
        )
    if probes.refresh_after is not None and (
        problem := refusal_problem(
            probes.refresh_after, status=None, forbidden_fields=("access_token", "refresh_token")
        )
    ):
        problems.append(problem)
    if not problems:
        return None
    responses = [
        p.response
        for p in (probes.revoke, probes.access_after, probes.refresh_after)
        if p is not None
    ]
    return Failure(
        "PDS-10",
        "revoked tokens still work",
        "; ".join(problems),
        tuple(responses),
    )


# --- PDS-11 ---------------------------------------------------------------------------------


def check_unknown_redirect_uri(probes: NegativeProbes) -> Failure | None:
    """PDS-11: a ``redirect_uri`` the client metadata does not list → 400 ``invalid_request``."""
    return _judge(
        "PDS-11",
        "redirect_uri not in the client metadata not refused with invalid_request",
        probes,
        error=INVALID_REQUEST,
        forbidden_fields=("request_uri",),
    )


def check_unreachable_client(probes: NegativeProbes) -> Failure | None:
    """PDS-11: a ``client_id`` whose metadata document cannot be fetched → 400
    ``unauthorized_client``."""
    return _judge(
        "PDS-11",
        "client whose metadata document is unreachable not refused with unauthorized_client",
        probes,
        error=UNAUTHORIZED_CLIENT,
        forbidden_fields=("request_uri",),
    )


def check_loopback_client(probe: Probe) -> Failure | None:
    """PDS-11: a loopback client id (``http://localhost?...``) is accepted."""
    body = _json_object(probe.response) if is_success(probe.response) else None
    if body is not None and isinstance(body.get("request_uri"), str):
        return None
    return Failure(
        "PDS-11",
        "loopback client id refused",
        f"{probe.case}: expected 201 with a request_uri, got {describe_response(probe.response)}",
        (probe.response,),
    )


def check_client_assertion_iat(probes: NegativeProbes) -> Failure | None:
    """PDS-11: a confidential client's ``private_key_jwt`` assertion is accepted (control), and
    one whose ``iat`` is far in the future → 400 ``invalid_client``."""
    return _judge(
        "PDS-11",
        "client assertion with an iat in the future not refused with invalid_client",
        probes,
        error=INVALID_CLIENT,
        status=None,
        forbidden_fields=("request_uri",),
    )


def mentions_iat(probe: Probe) -> bool:
    """Whether a refusal's ``error_description`` names the ``iat`` check (a measurement: it is
    what operators search for when a clock runs ahead)."""
    body = _json_object(probe.response)
    description = body.get("error_description") if body is not None else None
    return isinstance(description, str) and "iat" in description.lower()
