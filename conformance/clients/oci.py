"""An OCI Distribution client for the suites: raw responses, and the registry token dance.

``RegistryAuth`` answers a ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` challenge the
way ``docker`` does: it asks the realm for a token (HTTP Basic when it has credentials, anonymous
otherwise), then repeats the request once with ``Authorization: Bearer <token>``. Tokens are kept
per scope and sent up front on later requests for a repository they cover. A ``Basic`` challenge
is answered with the credentials. Every token is registered with the run's Redactor.

``RegistryClient`` sends one OCI request per method and returns the raw ``httpx.Response``;
judging is the checks' job (docs/atcr.md, "Harness contracts").
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.redact import Redactor

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPO_PATH = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)/")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "bearer", "basic"
    params: Mapping[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str | None) -> Challenge | None:
    """``Bearer realm="…",service="…"`` -> Challenge; None when absent or unparseable."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def repository_of(path: str) -> str | None:
    """The repository name in an OCI API path (``/v2/<name>/manifests/latest`` -> name)."""
    match = _REPO_PATH.match(path)
    return match.group(1) if match else None


def actions_for(method: str) -> tuple[str, ...]:
    if method in ("GET", "HEAD"):
        return ("pull",)
    if method == "DELETE":
        return ("delete",)
    return ("pull", "push")


class RegistryAuth(httpx.Auth):
    requires_response_body = True

    def __init__(
        self,
        redactor: Redactor,
        username: str | None = None,
        password: str | None = None,
        default_realm: str | None = None,
    ) -> None:
        self.redactor = redactor
        # Used when a Bearer challenge names no realm (ATCR documents <registry>/auth/token):
        # the missing realm is then reported by the one check about it (ATCR-AUTH-01) instead
        # of failing every check that pushes.
        self.default_realm = default_realm
        self.username = username
        self.password = password
        redactor.add(password)
        # "repository:<name>:<actions>" -> token; covers only what the realm granted for it.
        self._tokens: dict[str, str] = {}
        self.token_responses: list[httpx.Response] = []

    def _basic(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        value = "Basic " + base64.b64encode(raw).decode("ascii")
        self.redactor.add(value.split(" ", 1)[1])
        return value

    def _cached(self, request: httpx.Request) -> str | None:
        name = repository_of(request.url.path)
        if name is None:
            return self._tokens.get("")
        for action in actions_for(request.method):
            token = self._tokens.get(f"repository:{name}:{action}")
            if token is None:
                return None
        return self._tokens.get(f"repository:{name}:{actions_for(request.method)[0]}")

    def token_request(self, challenge: Challenge, scope: str | None) -> httpx.Request:
        params = {
            k: v for k, v in (("service", challenge.params.get("service")), ("scope", scope)) if v
        }
        headers = {}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        realm = challenge.realm or self.default_realm or ""
        return httpx.Request("GET", realm, params=params, headers=headers)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached(request)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("www-authenticate"))
        if challenge is None:
            return
        if challenge.scheme == "basic":
            basic = self._basic()
            if basic is None:
                return
            request.headers["Authorization"] = basic
            yield request
            return
        if challenge.scheme != "bearer" or not (challenge.realm or self.default_realm):
            return
        scope = challenge.params.get("scope")
        token_response = yield self.token_request(challenge, scope)
        self.token_responses.append(token_response)
        token = self._token_from(token_response)
        if token is None:
            return
        self._remember(scope, token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _token_from(self, response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        self.redactor.add(token)
        self.redactor.add(
            body.get("access_token") if isinstance(body.get("access_token"), str) else None
        )
        return token

    def _remember(self, scope: str | None, token: str) -> None:
        if not scope:
            self._tokens[""] = token
            return
        for one in scope.split(" "):
            kind, _, rest = one.partition(":")
            name, _, actions = rest.rpartition(":")
            for action in actions.split(","):
                if kind == "repository" and name and action:
                    self._tokens[f"repository:{name}:{action}"] = token


class RegistryClient:
    """One method per OCI request; every method returns the raw response."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def url(self, path_or_location: str) -> str:
        """An absolute URL for an API path or a ``Location`` header value (may be relative)."""
        return urljoin(self.base_url + "/", path_or_location)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = httpx.URL(self.url(path))
        params = kwargs.pop("params", None)
        if params:
            # Merged, not replaced: upload Locations may carry state in their query (Distribution
            # puts a signed ``_state`` there), and httpx's ``params=`` would drop it.
            url = url.copy_merge_params(params)
        return self.http.request(method, url, **kwargs)

    # --- end-1 --------------------------------------------------------------------------------
    def base(self) -> httpx.Response:
        return self.request("GET", "/v2/")

    # --- blobs (end-2, end-10) ----------------------------------------------------------------
    def get_blob(
        self,
        name: str,
        digest: str,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        return self.request(
            "GET",
            f"/v2/{name}/blobs/{digest}",
            headers=dict(headers or {}),
            follow_redirects=follow_redirects,
        )

    def head_blob(self, name: str, digest: str) -> httpx.Response:
        return self.request("HEAD", f"/v2/{name}/blobs/{digest}", follow_redirects=True)

    def delete_blob(self, name: str, digest: str) -> httpx.Response:
        return self.request("DELETE", f"/v2/{name}/blobs/{digest}")

    # --- uploads (end-4a/b/c, end-5, end-6, end-11, end-13, end-14) ---------------------------
    def start_upload(
        self,
        name: str,
        *,
        digest: str | None = None,
        data: bytes | None = None,
        mount: str | None = None,
        from_repo: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        params = {k: v for k, v in (("digest", digest), ("mount", mount), ("from", from_repo)) if v}
        sent = dict(headers or {})
        if data is not None:
            sent.setdefault("Content-Type", "application/octet-stream")
        else:
            sent.setdefault("Content-Length", "0")
        return self.request(
            "POST",
            f"/v2/{name}/blobs/uploads/",
            params=params,
            content=data if data is not None else b"",
            headers=sent,
        )

    def patch_chunk(
        self, location: str, data: bytes, content_range: str | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream"}
        if content_range is not None:
            headers["Content-Range"] = content_range
        return self.request("PATCH", location, content=data, headers=headers)

    def finish_upload(self, location: str, digest: str, data: bytes = b"") -> httpx.Response:
        headers = {"Content-Type": "application/octet-stream"}
        return self.request(
            "PUT", location, params={"digest": digest}, content=data, headers=headers
        )

    def upload_status(self, location: str) -> httpx.Response:
        return self.request("GET", location)

    def cancel_upload(self, location: str) -> httpx.Response:
        return self.request("DELETE", location)

    # --- manifests (end-3, end-7, end-9) ------------------------------------------------------
    def get_manifest(
        self, name: str, reference: str, accept: str = MANIFEST_ACCEPT
    ) -> httpx.Response:
        return self.request("GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": accept})

    def head_manifest(
        self, name: str, reference: str, accept: str = MANIFEST_ACCEPT
    ) -> httpx.Response:
        return self.request("HEAD", f"/v2/{name}/manifests/{reference}", headers={"Accept": accept})

    def put_manifest(
        self,
        name: str,
        reference: str,
        content: bytes,
        media_type: str = OCI_MANIFEST,
        tags: Sequence[str] = (),
    ) -> httpx.Response:
        params = [("tag", t) for t in tags]
        return self.request(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            content=content,
            params=params,
            headers={"Content-Type": media_type},
        )

    def delete_manifest(self, name: str, reference: str) -> httpx.Response:
        return self.request("DELETE", f"/v2/{name}/manifests/{reference}")

    # --- discovery (end-8, end-12) ------------------------------------------------------------
    def tags(self, name: str, n: int | None = None, last: str | None = None) -> httpx.Response:
        params = {k: str(v) for k, v in (("n", n), ("last", last)) if v is not None}
        return self.request("GET", f"/v2/{name}/tags/list", params=params)

    def referrers(self, name: str, digest: str, artifact_type: str | None = None) -> httpx.Response:
        params = {"artifactType": artifact_type} if artifact_type else {}
        return self.request("GET", f"/v2/{name}/referrers/{digest}", params=params)


def location_of(response: httpx.Response) -> str | None:
    """The ``Location`` header, made absolute against the request URL."""
    value = response.headers.get("location")
    return urljoin(str(response.request.url), value) if value else None


def same_origin(a: str, b: str) -> bool:
    sa, sb = urlsplit(a), urlsplit(b)
    return (sa.scheme, sa.netloc) == (sb.scheme, sb.netloc)
