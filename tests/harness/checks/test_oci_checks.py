"""OCI-end-* / OCI-code-*: every check passes against a correct fake registry and returns a
Failure with exactly its requirement ID against one broken on purpose (``oci_fakes``, real HTTP
on loopback); optional features the fake validly lacks give ``Unsupported``. Also the pure
helpers (digests, error bodies, Link parsing)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest
from oci_fakes import FakeRegistry, running_registry

from conformance.checks import oci as checks
from conformance.checks.base import Failure
from conformance.checks.oci import Unsupported, Verdict, digest_of, error_codes
from conformance.clients.oci import RegistryAuth, RegistryClient
from conformance.redact import Redactor
from conformance.scenarios import oci as scenarios
from conformance.scenarios.oci import next_link, seed_image

Repo = Callable[[str], str]
Run = Callable[[RegistryClient, Repo], Verdict]
ClientFor = Callable[..., AbstractContextManager[tuple[FakeRegistry, RegistryClient]]]


def _namer() -> Repo:
    counter = itertools.count(1)
    return lambda label: f"atconform/{label}-{next(counter)}"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeRegistry, str]]:
    """One fake registry on loopback for the module; each test resets it with its faults."""
    with running_registry() as running:
        yield running


@pytest.fixture
def client_for(
    fake: tuple[FakeRegistry, str],
) -> Iterator[Callable[..., AbstractContextManager[tuple[FakeRegistry, RegistryClient]]]]:
    registry, url = fake

    @contextmanager
    def open_client(*faults: str) -> Iterator[tuple[FakeRegistry, RegistryClient]]:
        registry.reset(frozenset(faults))
        with httpx.Client(timeout=15.0, auth=RegistryAuth(Redactor())) as http:
            yield registry, RegistryClient(http, url)

    yield open_client
    registry.reset(frozenset())


# --- how the suite composes scenario and check, per requirement -----------------------------


def run_end_1(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_base(scenarios.probe_base(c))


def run_end_2(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_blob_reads(scenarios.probe_blob_reads(c, seed_image(c, repo("seed"))))


def run_end_3(c: RegistryClient, repo: Repo) -> Verdict:
    seed = seed_image(c, repo("seed"))
    return checks.check_manifest_reads(scenarios.probe_manifest_reads(c, seed, repo("untagged")))


def run_end_4a(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_session_opened(scenarios.probe_open_session(c, repo("open")))


def run_end_4b(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_monolithic_upload(scenarios.probe_monolithic_upload(c, repo("mono")))


def run_end_4c(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_single_post(scenarios.probe_single_post(c, repo("single")))


def run_end_5(c: RegistryClient, repo: Repo) -> Verdict:
    name = repo("chunked")
    return checks.check_chunked_upload(scenarios.probe_chunked_upload(c, name, True),
                                       scenarios.probe_chunked_upload(c, name, False))


def run_end_6(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_close_upload(scenarios.probe_close_upload(c, repo("close")))


def run_end_7a(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_manifest_created(
        "OCI-end-7a", scenarios.probe_manifest_push(c, repo("m"), "latest"))


def run_end_7b(c: RegistryClient, repo: Repo) -> Verdict:
    verdict = checks.check_manifest_created(
        "OCI-end-7b", scenarios.probe_manifest_push(c, repo("m"), None))
    return verdict or checks.check_tag_params(scenarios.probe_tag_params(c, repo("tp")))


def run_end_8a(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_tag_list(scenarios.probe_tag_listing(c, repo("tags"), paginate=False))


def run_end_8b(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_tag_pagination(scenarios.probe_tag_listing(c, repo("pages"), True))


def run_end_9(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_deletion("OCI-end-9", scenarios.probe_manifest_delete(c, repo("dm")),
                                 "manifest")


def run_end_10(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_deletion("OCI-end-10", scenarios.probe_blob_delete(c, repo("db")),
                                 "blob")


def run_end_11(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_mount(scenarios.probe_mount(c, repo("from"), repo("to")))


def run_end_12a(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_referrers(scenarios.probe_referrers(c, repo("refs")))


def run_end_12b(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_referrers_filter(scenarios.probe_referrers(c, repo("refs")))


def run_end_13(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_upload_status(scenarios.probe_upload_status(c, repo("status")))


def run_end_14(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_cancel_upload(scenarios.probe_cancel_upload(c, repo("cancel")))


def run_code_1(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_blob_unknown(scenarios.probe_blob_unknown(c, seed_image(c, repo("s"))))


def run_code_2(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_upload_invalid(scenarios.probe_upload_invalid(c, repo("ui")))


def run_code_3(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_upload_unknown(scenarios.probe_upload_unknown(c, repo("uu")))


def run_code_4(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_digest_invalid(scenarios.probe_digest_invalid(c, repo("di")))


def run_code_5(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_manifest_blob_unknown(scenarios.probe_manifest_blob_unknown(c, repo("m")))


def run_code_6(c: RegistryClient, repo: Repo) -> Verdict:
    seed = seed_image(c, repo("s"))
    return checks.check_manifest_invalid(scenarios.probe_manifest_invalid(c, seed.name, seed))


def run_code_7(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_manifest_unknown(
        scenarios.probe_manifest_unknown(c, seed_image(c, repo("s"))))


def run_code_8(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_name_invalid(scenarios.probe_name_invalid(c, "atconform"))


def run_code_9(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_name_unknown(scenarios.probe_name_unknown(c, repo("never")))


def run_code_10(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_size_invalid(scenarios.probe_size_invalid(c, repo("size")))


def run_code_11(c: RegistryClient, repo: Repo) -> Verdict:
    # The anonymous client: the same registry without RegistryAuth.
    with httpx.Client(timeout=15.0) as http:
        anonymous = RegistryClient(http, c.base_url)
        return checks.check_unauthorized(scenarios.probe_unauthorized(anonymous, repo("anon")))


def run_code_12(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_denied(scenarios.probe_denied(c, "other/denied-probe"))


def run_code_13(c: RegistryClient, repo: Repo) -> Verdict:
    return checks.check_unsupported(scenarios.probe_unsupported(c, repo("u")))


def run_code_14(c: RegistryClient, repo: Repo) -> Verdict:
    seed = seed_image(c, repo("s"))
    return checks.check_rate_limited(scenarios.probe_rate_limit(c, seed.name))


RUNS: dict[str, Run] = {
    "OCI-end-1": run_end_1, "OCI-end-2": run_end_2, "OCI-end-3": run_end_3,
    "OCI-end-4a": run_end_4a, "OCI-end-4b": run_end_4b, "OCI-end-4c": run_end_4c,
    "OCI-end-5": run_end_5, "OCI-end-6": run_end_6, "OCI-end-7a": run_end_7a,
    "OCI-end-7b": run_end_7b, "OCI-end-8a": run_end_8a, "OCI-end-8b": run_end_8b,
    "OCI-end-9": run_end_9, "OCI-end-10": run_end_10, "OCI-end-11": run_end_11,
    "OCI-end-12a": run_end_12a, "OCI-end-12b": run_end_12b, "OCI-end-13": run_end_13,
    "OCI-end-14": run_end_14,
    "OCI-code-1": run_code_1, "OCI-code-2": run_code_2, "OCI-code-3": run_code_3,
    "OCI-code-4": run_code_4, "OCI-code-5": run_code_5, "OCI-code-6": run_code_6,
    "OCI-code-7": run_code_7, "OCI-code-8": run_code_8, "OCI-code-9": run_code_9,
    "OCI-code-10": run_code_10, "OCI-code-11": run_code_11, "OCI-code-12": run_code_12,
    "OCI-code-13": run_code_13, "OCI-code-14": run_code_14,
}

# What the correct fake validly lacks without a mode switched on.
# code-13 passes by default: the fake refuses an undefined operation with a bare 405.
OPTIONAL_BY_DEFAULT = {"OCI-code-11", "OCI-code-12", "OCI-code-14"}


def failed(verdict: Verdict, requirement: str) -> Failure:
    assert isinstance(verdict, Failure), f"the check did not notice: {verdict!r}"
    assert verdict.requirement == requirement
    assert verdict.title and verdict.message
    assert "Bearer" not in verdict.message and "token" not in verdict.message.lower()
    return verdict


def test_every_requirement_of_the_catalogue_has_a_run() -> None:
    from conformance.catalogue.catalogue import load_catalogue

    oci = {r.id for r in load_catalogue() if r.id.startswith("OCI-")}
    assert oci == set(RUNS)


def test_correct_registry_passes_every_check(client_for: ClientFor) -> None:
    with client_for() as (_, client):
        repo = _namer()
        verdicts = {rid: run(client, repo) for rid, run in RUNS.items()}
    passed = {rid for rid, v in verdicts.items() if v is None}
    assert passed == set(RUNS) - OPTIONAL_BY_DEFAULT, verdicts
    # code-12 is decided by the suite (no second namespace) before its check runs.
    for rid in OPTIONAL_BY_DEFAULT - {"OCI-code-12"}:
        assert isinstance(verdicts[rid], Unsupported), (rid, verdicts[rid])


BROKEN: list[tuple[str, tuple[str, ...]]] = [
    ("OCI-end-1", ("base-401-no-challenge",)),
    ("OCI-end-2", ("wrong-blob-digest",)),
    ("OCI-end-2", ("range-wrong-bytes",)),
    ("OCI-end-3", ("manifest-wrong-type",)),
    ("OCI-end-3", ("untagged-404",)),
    ("OCI-end-4a", ("post-200",)),
    ("OCI-end-4a", ("no-location",)),
    ("OCI-end-4b", ("finish-200",)),
    ("OCI-end-4b", ("sha512-500",)),
    ("OCI-end-4c", ("finish-200",)),
    ("OCI-end-5", ("ignore-content-range",)),
    ("OCI-end-5", ("static-range",)),
    ("OCI-end-6", ("session-survives-put",)),
    ("OCI-end-6", ("finish-200",)),
    ("OCI-end-7a", ("manifest-put-200",)),
    ("OCI-end-7b", ("manifest-no-location",)),
    ("OCI-end-7b", ("tag-param-partial",)),
    ("OCI-end-8a", ("tags-missing-one",)),
    ("OCI-end-8b", ("tags-ignore-n",)),
    ("OCI-end-8b", ("tags-no-link",)),
    ("OCI-end-8b", ("tags-unsorted",)),
    ("OCI-end-8b", ("tags-ignore-last",)),
    ("OCI-end-9", ("delete-keeps-manifest",)),
    ("OCI-end-10", ("delete-keeps-blob",)),
    ("OCI-end-11", ("mount-500",)),
    ("OCI-end-12a", ("referrers-missing",)),
    ("OCI-end-12a", ("referrers-no-type",)),
    ("OCI-end-12b", ("filter-leaky",)),
    ("OCI-end-12b", ("filter-no-header",)),
    ("OCI-end-13", ("status-200",)),
    ("OCI-end-14", ("cancel-keeps-session",)),
    ("OCI-code-1", ("wrong-code:BLOB_UNKNOWN",)),
    ("OCI-code-2", ("upload-invalid-500",)),
    ("OCI-code-3", ("wrong-code:BLOB_UPLOAD_UNKNOWN",)),
    ("OCI-code-4", ("accept-bad-digest",)),
    ("OCI-code-4", ("wrong-code:DIGEST_INVALID",)),
    ("OCI-code-5", ("wrong-code:MANIFEST_BLOB_UNKNOWN",)),
    ("OCI-code-6", ("wrong-code:MANIFEST_INVALID",)),
    ("OCI-code-7", ("wrong-code:MANIFEST_UNKNOWN",)),
    ("OCI-code-8", ("wrong-code:NAME_INVALID",)),
    ("OCI-code-9", ("wrong-code:NAME_UNKNOWN",)),
    ("OCI-code-10", ("size-500",)),
    ("OCI-code-11", ("bearer", "unauthorized-no-code")),
    ("OCI-code-12", ("deny-foreign", "wrong-code:DENIED")),
    ("OCI-code-13", ("unsupported-wrong-status",)),
    ("OCI-code-13", ("undefined-op-wrong-code",)),
    ("OCI-code-14", ("rate-limit", "wrong-code:TOOMANYREQUESTS")),
]


@pytest.mark.parametrize(("requirement", "faults"), BROKEN,
                         ids=[f"{r}-{'+'.join(f)}" for r, f in BROKEN])
def test_broken_registry_fails_the_check(
    requirement: str, faults: tuple[str, ...], client_for: ClientFor
) -> None:
    with client_for(*faults) as (_, client):
        failed(RUNS[requirement](client, _namer()), requirement)


def test_blob_upload_invalid_reported_under_its_code(client_for: ClientFor) -> None:
    """OCI-code-2 has no "wrong code" failure (the spec fixes only 416 there): another code
    is a skip with a note, and a 5xx is a failure."""
    with client_for("wrong-code:BLOB_UPLOAD_INVALID") as (_, client):
        assert isinstance(run_code_2(client, _namer()), Unsupported)
    with client_for("ignore-content-range") as (_, client):
        assert isinstance(run_code_2(client, _namer()), Unsupported)


MODES: list[tuple[str, tuple[str, ...]]] = [
    ("OCI-end-1", ("bearer",)),  # the token dance turns the 401 into 200
    ("OCI-end-4b", ("bearer",)),
    ("OCI-code-11", ("bearer",)),
    ("OCI-code-12", ("deny-foreign",)),
    ("OCI-code-13", ("no-blob-delete",)),
    ("OCI-code-14", ("rate-limit",)),
]


@pytest.mark.parametrize(("requirement", "modes"), MODES,
                         ids=[f"{r}-{'+'.join(m)}" for r, m in MODES])
def test_optional_behaviour_passes_when_present(
    requirement: str, modes: tuple[str, ...], client_for: ClientFor
) -> None:
    with client_for(*modes) as (_, client):
        assert RUNS[requirement](client, _namer()) is None


UNSUPPORTED: list[tuple[str, tuple[str, ...]]] = [
    ("OCI-end-4c", ("single-post-202",)),
    ("OCI-end-7b", ("tag-param-ignored",)),
    ("OCI-end-10", ("no-blob-delete",)),
    ("OCI-end-12a", ("no-referrers",)),
    ("OCI-end-12b", ("no-referrers",)),
    ("OCI-end-12b", ("filter-ignored",)),
]


@pytest.mark.parametrize(("requirement", "modes"), UNSUPPORTED,
                         ids=[f"{r}-{'+'.join(m)}" for r, m in UNSUPPORTED])
def test_validly_missing_feature_is_unsupported(
    requirement: str, modes: tuple[str, ...], client_for: ClientFor
) -> None:
    with client_for(*modes) as (_, client):
        verdict = RUNS[requirement](client, _namer())
    assert isinstance(verdict, Unsupported) and verdict.requirement == requirement


def test_name_invalid_not_routed_is_unsupported() -> None:
    """A plain-text 404 for a name outside the grammar (Distribution's router) is a skip."""
    response = httpx.Response(404, text="404 page not found",
                              request=httpx.Request("GET", "http://r/v2/A/tags/list"))
    probes = scenarios.ErrorProbes((), (scenarios.Probe("GET tags of 'A'", response),))
    assert isinstance(checks.check_name_invalid(probes), Unsupported)


# --- pure helpers ---------------------------------------------------------------------------


def test_digest_of_accepts_any_known_algorithm() -> None:
    import hashlib

    data = b"hello"
    assert digest_of(data, "sha256:" + hashlib.sha256(data).hexdigest())
    assert digest_of(data, "sha512:" + hashlib.sha512(data).hexdigest())
    assert not digest_of(data, "sha256:" + hashlib.sha256(b"other").hexdigest())
    assert not digest_of(data, "md5:" + hashlib.md5(data).hexdigest())


def _response(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers,
                          request=httpx.Request("GET", "http://r/v2/a/tags/list?n=2"))


def test_error_codes_parse_only_oci_error_bodies() -> None:
    assert error_codes(_response(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})) == ("BLOB_UNKNOWN",)
    assert error_codes(_response(404, {"error": "NotFound"})) is None
    assert error_codes(_response(404, {"errors": []})) is None
    assert error_codes(_response(404, {"errors": [{"message": "x"}]})) is None


def test_next_link_resolves_relative_targets() -> None:
    response = _response(200, {}, Link='</v2/a/tags/list?n=2&last=b>; rel="next"')
    assert next_link(response) == "http://r/v2/a/tags/list?n=2&last=b"
    assert next_link(_response(200, {}, Link='</x>; rel="prev"')) is None
    assert next_link(_response(200, {})) is None


def test_upload_location_query_is_kept_when_params_are_added() -> None:
    """Distribution keeps upload state in the Location's query; ?digest= must not drop it."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(201)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        RegistryClient(http, "http://r").finish_upload("/v2/a/blobs/uploads/u?_state=s1",
                                                       "sha256:" + "0" * 64)
    assert "_state=s1" in seen[0] and "digest=sha256" in seen[0]
