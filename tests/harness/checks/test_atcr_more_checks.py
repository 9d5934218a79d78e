"""ATCR-OAUTH-02, ATCR-HOLD-04 and ATCR-CLIENT-01 checks: the login verdict against tiny apps,
the AppView/PDS clock pair from measured bounds, the outage check against the in-memory ATCR
with its hold "down" (answering 503, or hanging), and the real-client verdict over recorded
command steps. Also the harness's own digest → blob CID conversion and did:web rule."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from atcr_fakes import PASSWORD, running_atcr, user
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conformance.checks.atcr import (
    check_appview_clock,
    check_appview_login,
    check_hold_outage,
    check_real_clients,
)
from conformance.clients.oci import RegistryAuth, RegistryClient
from conformance.localserver import serve_in_thread
from conformance.realclients.commands import CommandStep, run_step
from conformance.realclients.flow import RealClientRun
from conformance.redact import Redactor
from conformance.scenarios.atcr import (
    RecordListing,
    did_web_document_url,
    did_web_url,
    digest_to_cid,
    probe_hold_outage,
    push_image,
    realm_of,
    small_image,
)
from conformance.scenarios.clock import ClockSample, offset_from_samples

DID = "did:plc:alice"


def callback_app(body: dict[str, object], status: int = 200) -> Starlette:
    async def callback(request: Request) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    return Starlette(routes=[Route("/auth/oauth/callback", callback)])


@pytest.mark.parametrize(("body", "status", "ok"), [
    ({"did": DID, "handle": "alice.test", "loggedIn": True}, 200, True),
    ({"did": DID, "loggedIn": False}, 200, False),
    ({"error": "invalid_client", "error_description": "iat in the future"}, 400, False),
    ({"did": "did:plc:someoneelse", "loggedIn": True}, 200, False),
])
def test_appview_login(
    http: httpx.Client, body: dict[str, object], status: int, ok: bool
) -> None:
    with serve_in_thread(callback_app(body, status)) as url:
        response = http.get(f"{url}/auth/oauth/callback")
    verdict = check_appview_login([response], DID)
    if ok:
        assert verdict is None
    else:
        assert verdict is not None and verdict.requirement == "ATCR-OAUTH-02"


def offset(url: str, server_minus_harness: float) -> object:
    samples = [ClockSample(t, t + 0.01, float(int(t + server_minus_harness)))
               for t in (1000.0, 1000.3, 1000.6, 1000.9)]
    return offset_from_samples(url, samples)


def test_appview_clock_agrees() -> None:
    assert check_appview_clock(offset("appview", 0.0), offset("pds", 0.2)) is None  # type: ignore[arg-type]


def test_appview_clock_warning_is_not_a_failure() -> None:
    assert check_appview_clock(offset("appview", 4.0), offset("pds", 0.0)) is None  # type: ignore[arg-type]


def test_appview_clock_far_ahead_fails() -> None:
    verdict = check_appview_clock(offset("appview", 30.0), offset("pds", 0.0))  # type: ignore[arg-type]
    assert verdict is not None and verdict.requirement == "ATCR-OAUTH-02"
    assert "appview" in verdict.message


@pytest.mark.parametrize("fault", [None, "outage-hangs", "mid-push-hangs", "forgets-on-restart"])
def test_hold_outage(fault: str | None) -> None:
    alice = user("alice.test")
    # forgets-on-restart is the hold coming back without its storage (done in start below).
    served = [fault] if fault and fault != "forgets-on-restart" else []
    with running_atcr(*served) as (url, state), httpx.Client(
        auth=RegistryAuth(Redactor(), alice.handle, PASSWORD), timeout=3.0
    ) as client:
        events: list[str] = []

        def stop() -> None:
            events.append("stop")
            state.hold_down = True

        def start() -> None:
            events.append("start")
            state.hold_down = False
            if fault == "forgets-on-restart":
                state.blobs.clear()

        probes = probe_hold_outage(RegistryClient(client, url), alice, stop, start)
    assert events == ["stop", "start"]
    verdict = check_hold_outage(probes)
    if fault is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.requirement == "ATCR-HOLD-04"
        if fault == "forgets-on-restart":
            assert verdict.title == "a blob pushed before the outage is lost after it"
        else:
            assert "client timeout" in verdict.message
    # The push begun before the outage was really begun (POST + PATCH) and then probed.
    assert probes.finish_mid_push is not None
    if verdict is not None and fault != "forgets-on-restart":
        assert "begun before the hold went down" in verdict.message


def test_hold_outage_restarts_even_when_probing_raises() -> None:
    class Boom(RegistryClient):
        def start_upload(self, *args: object, **kwargs: object) -> httpx.Response:
            if self.down:
                raise RuntimeError("probe failed")
            return super().start_upload(*args, **kwargs)  # type: ignore[arg-type]

    alice = user("alice.test")
    with running_atcr() as (url, state), httpx.Client(
        auth=RegistryAuth(Redactor(), alice.handle, PASSWORD), timeout=3.0
    ) as client:
        registry = Boom(client, url)
        registry.down = False  # type: ignore[attr-defined]

        def stop() -> None:
            registry.down = True  # type: ignore[attr-defined]
            state.hold_down = True

        with pytest.raises(RuntimeError):
            probe_hold_outage(registry, alice, stop, lambda: setattr(state, "hold_down", False))
        assert state.hold_down is False


# --- ATCR-CLIENT-01 ----------------------------------------------------------------------------

LABELS = ("docker build", "docker login", "docker push", "docker rmi", "docker pull",
          "skopeo copy docker-daemon → registry", "skopeo copy registry → oci dir",
          "skopeo copy oci dir → registry")
DIGEST = "sha256:" + "ab" * 32


def listing(collection: str, values: list[dict[str, object]]) -> RecordListing:
    records = tuple({"uri": f"at://{DID}/{collection}/{i}", "value": v}
                    for i, v in enumerate(values))
    return RecordListing(DID, collection, records, ())


def real_run(failing: str | None = None, records: bool = True) -> RealClientRun:
    steps = tuple(CommandStep(label, (label.split()[0], "…"), 1 if label == failing else 0,
                              "output", 0.1) for label in LABELS)
    manifests = listing("io.atcr.manifest", [{"repository": "atconform-docker-x",
                                              "digest": DIGEST}] if records else [])
    tags = listing("io.atcr.tag", [{"repository": "atconform-docker-x", "tag": "v1"}])
    return RealClientRun("127.0.0.1:5000", "alice.test/atconform-docker-x",
                         "alice.test/atconform-skopeo-x", steps, DIGEST, manifests, tags)


def test_real_clients_pass() -> None:
    assert check_real_clients(real_run()) is None


@pytest.mark.parametrize("label", ["docker login", "docker pull",
                                   "skopeo copy registry → oci dir"])
def test_real_clients_failed_step(label: str) -> None:
    verdict = check_real_clients(real_run(failing=label))
    assert verdict is not None and verdict.requirement == "ATCR-CLIENT-01"
    assert label in verdict.title


def test_real_clients_missing_records() -> None:
    verdict = check_real_clients(real_run(records=False))
    assert verdict is not None and "io.atcr.manifest" in verdict.title


def test_run_step_redacts_and_bounds() -> None:
    redactor = Redactor()
    secret = "s3cret-value-123"
    # stdin (how docker gets the password) is registered as a secret before the command runs.
    piped = run_step("cat", ["cat"], redactor=redactor, timeout=5, stdin=secret)
    assert piped.ok and secret not in piped.output
    step = run_step("echo", ["echo", secret], redactor=redactor, timeout=5)
    assert step.ok and secret not in step.output and secret not in " ".join(step.argv)
    slow = run_step("sleep", ["sleep", "5"], redactor=redactor, timeout=0.3)
    assert slow.exit_code is None and "0.3" in slow.note


# --- pure helpers ------------------------------------------------------------------------------


def test_digest_to_cid_known_value() -> None:
    # CIDv1 raw of the sha256 of b"" — the well-known empty-blob CID.
    digest = "sha256:" + hashlib.sha256(b"").hexdigest()
    assert digest_to_cid(digest) == \
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_digest_to_cid_sha512_and_errors() -> None:
    digest = "sha512:" + hashlib.sha512(b"x").hexdigest()
    cid = digest_to_cid(digest)
    raw = base64.b32decode(cid[1:].upper() + "=" * (-len(cid[1:]) % 8))
    assert raw[:4] == bytes((0x01, 0x55, 0x13, 0x40)) and raw[4:] == hashlib.sha512(b"x").digest()
    for bad in ("md5:00", "sha256:" + "AB" * 32, "sha256:abcd"):
        with pytest.raises(ValueError):
            digest_to_cid(bad)


def test_did_web_urls() -> None:
    assert did_web_url("did:web:127.0.0.1%3A8080") == "http://127.0.0.1:8080"
    assert did_web_url("did:web:hold.example.com") == "https://hold.example.com"
    assert did_web_document_url("did:web:localhost%3A1") == "http://localhost:1/.well-known/did.json"
    assert did_web_document_url("did:web:example.com:u:alice") == \
        "https://example.com/u/alice/did.json"
    assert did_web_url("did:plc:abc") is None


def test_documented_realm_keeps_pushes_judgeable() -> None:
    """With a challenge lacking its realm (ATCR-AUTH-01's failure), the suite's client still
    gets tokens from the documented realm, so push-based checks judge their own behaviour."""
    alice = user("alice.test")
    with running_atcr("no-realm") as (url, _), httpx.Client(
        auth=RegistryAuth(Redactor(), alice.handle, PASSWORD, default_realm=realm_of(url)),
        timeout=10,
    ) as fixed, httpx.Client(
        auth=RegistryAuth(Redactor(), alice.handle, PASSWORD), timeout=10
    ) as plain:
        assert push_image(RegistryClient(fixed, url), alice.repo("app"), small_image()).ok
        assert not push_image(RegistryClient(plain, url), alice.repo("app2"), small_image()).ok
