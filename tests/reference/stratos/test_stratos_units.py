"""Pure parts of the reference Stratos: settings, the boundary rule, event frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from cbrrr import CID

from reference_impl.common.faults import Faults
from reference_impl.primitives import dagcbor
from reference_impl.stratos.config import ConfigError, StratosConfig, qualify_domain
from reference_impl.stratos.events import (
    CommitPublication,
    FrameError,
    PublishedOp,
    StoredEvent,
    decode_frame,
    encode_error,
    encode_message,
)
from reference_impl.stratos.policy import (
    BoundaryPolicy,
    MalformedBoundary,
    boundary_of,
    check_write_boundary,
)

SVC = "did:web:stratos.test"
ENG, DES = f"{SVC}/engineering", f"{SVC}/design"


def _config(**env: str) -> StratosConfig:
    return StratosConfig.from_env(env, public_url="http://127.0.0.1:3100/", data_dir=Path("/tmp/x"))


def test_config_defaults() -> None:
    config = _config()
    assert config.public_url == "http://127.0.0.1:3100"
    assert config.service_did == "did:web:stratos.localhost"
    assert config.domains == (
        "did:web:stratos.localhost/engineering",
        "did:web:stratos.localhost/design",
    )
    assert config.enrollment_mode == "allowlist" and config.allowed_dids == frozenset()
    assert config.pds_url == config.plc_url == "http://127.0.0.1:2583"
    assert (config.rate_limit.max_writes, config.rate_limit.window_ms) == (300, 60000)
    assert config.rate_limit.window_s == 60
    assert config.dpop_require_nonce is True
    assert len(config.sync_token) >= 32 and config.sync_token != _config().sync_token
    assert config.sync_token not in repr(config)
    assert config.faults == Faults()


def test_config_values() -> None:
    config = _config(
        STRATOS_SERVICE_DID=SVC,
        STRATOS_ALLOWED_DOMAINS=f"engineering, {SVC}/design ,ops",
        STRATOS_AUTO_ENROLL_DOMAINS="ops",
        STRATOS_ENROLLMENT_MODE="OPEN",
        STRATOS_ALLOWED_DIDS="did:plc:aaa,did:plc:bbb",
        STRATOS_PLC_URL="http://127.0.0.1:9999/",
        STRATOS_WRITE_RATE_WINDOW_MS="1500",
        STRATOS_DPOP_REQUIRE_NONCE="false",
        STRATOS_SYNC_TOKEN="s3cret",
    )
    assert config.domains == (ENG, DES, f"{SVC}/ops")
    assert config.auto_enroll_domains == (f"{SVC}/ops",)
    assert config.enrollment_mode == "open"
    assert config.allowed_dids == {"did:plc:aaa", "did:plc:bbb"}
    assert config.plc_url == "http://127.0.0.1:9999"
    assert config.rate_limit.window_s == 2  # whole seconds, rounded up
    assert config.dpop_require_nonce is False and config.sync_token == "s3cret"


@pytest.mark.parametrize(
    "env",
    [
        {"STRATOS_SERVICE_DID": "did:web:host%3A3100"},
        {"STRATOS_SERVICE_DID": "not-a-did"},
        {"STRATOS_ALLOWED_DOMAINS": "bad/name"},
        {"STRATOS_AUTO_ENROLL_DOMAINS": "marketing"},
        {"STRATOS_ENROLLMENT_MODE": "maybe"},
        {"STRATOS_ALLOWED_DIDS": "alice"},
        {"STRATOS_WRITE_RATE_MAX_WRITES": "0"},
        {"STRATOS_WRITE_RATE_WINDOW_MS": "soon"},
        {"STRATOS_DPOP_REQUIRE_NONCE": "perhaps"},
        {"STRATOS_PDS_URL": "ftp://pds"},
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        _config(**env)
    assert next(iter(env)) in str(error.value)


def test_qualify_domain() -> None:
    assert qualify_domain(SVC, "engineering") == ENG
    assert qualify_domain(SVC, ENG) == ENG
    assert qualify_domain(SVC, "did:web:other/engineering") is None
    assert qualify_domain(SVC, "") is None
    assert qualify_domain(SVC, "a" * 300) is None


# -- the boundary rule --------------------------------------------------------------------------

POLICY = BoundaryPolicy()


@pytest.mark.parametrize(
    ("viewer", "boundary", "viewer_domains", "visible"),
    [
        ("did:owner", frozenset({DES}), None, True),  # the owner always
        ("did:v", frozenset({ENG}), frozenset({ENG}), True),
        ("did:v", frozenset({ENG, DES}), frozenset({DES}), True),  # any shared domain
        ("did:v", frozenset({ENG}), frozenset({DES}), False),
        ("did:v", None, frozenset(), True),  # no boundary: any enrolled viewer
        ("did:v", None, None, False),  # ... but not someone who is not enrolled
        ("did:v", frozenset(), frozenset({ENG}), False),  # empty boundary: owner only
        (None, None, None, False),  # anonymous: nothing
        (None, frozenset({ENG}), frozenset({ENG}), False),
    ],
)
def test_boundary_policy(
    viewer: str | None,
    boundary: frozenset[str] | None,
    viewer_domains: frozenset[str] | None,
    visible: bool,
) -> None:
    assert POLICY.can_view(viewer, "did:owner", boundary, viewer_domains) is visible


def test_boundary_of() -> None:
    assert boundary_of({"text": "x"}) is None
    assert boundary_of({"boundary": {"values": []}}) == frozenset()
    assert boundary_of({"boundary": {"values": [{"value": ENG}, {"value": ENG}]}}) == {ENG}
    for bad in ({"values": "x"}, {"values": [{"value": 1}]}, "x", {"values": ["x"]}):
        with pytest.raises(MalformedBoundary):
            boundary_of({"boundary": bad})


def test_check_write_boundary() -> None:
    assert check_write_boundary(None, frozenset(), SVC) is None
    assert check_write_boundary(frozenset({ENG}), frozenset({ENG}), SVC) is None
    forbidden = check_write_boundary(frozenset({ENG, DES}), frozenset({ENG}), SVC)
    assert forbidden is not None and (forbidden.reason, forbidden.domain) == (
        "ForbiddenBoundary",
        DES,
    )
    mismatch = check_write_boundary(frozenset({DES, "did:web:x/eng"}), frozenset(), SVC)
    assert mismatch is not None and mismatch.reason == "ServiceMismatch"
    # A look-alike prefix is another service.
    lookalike = check_write_boundary(frozenset({f"{SVC}x/engineering"}), frozenset(), SVC)
    assert lookalike is not None and lookalike.reason == "ServiceMismatch"


# -- frames and events --------------------------------------------------------------------------

CID_A = dagcbor.cid_for_cbor(dagcbor.encode({"a": 1}))


def test_frames_round_trip() -> None:
    header, body = decode_frame(encode_message("#info", {"name": "OutdatedCursor"}))
    assert header == {"op": 1, "t": "#info"} and body == {"name": "OutdatedCursor"}
    header, body = decode_frame(encode_error("FutureCursor", "ahead"))
    assert header == {"op": -1} and body == {"error": "FutureCursor", "message": "ahead"}
    for bad in (b"", dagcbor.encode({"op": 1}), dagcbor.encode({"op": 1}) + b"\xff", b"\x01" * 3):
        with pytest.raises(FrameError):
            decode_frame(bad)


def _publication(ops: int) -> CommitPublication:
    return CommitPublication(
        did="did:plc:x",
        rev="3kaaaaaaaaaaa",
        commit_cid=CID_A.encode(),
        time="2026-01-01T00:00:00.000Z",
        ops=tuple(
            PublishedOp(
                "create", "zone.stratos.feed.post", f"k{i}", CID_A.encode(), {"t": i}, (ENG,)
            )
            for i in range(ops)
        ),
    )


def test_publication_json_round_trip_and_chunks() -> None:
    publication = _publication(450)
    assert CommitPublication.from_json(publication.to_json()) == publication
    bodies = publication.message_bodies()
    assert [len(b["ops"]) for _, b in bodies] == [200, 200, 50]
    assert len({key for key, _ in bodies}) == 3
    op = bodies[0][1]["ops"][0]
    assert op["cid"] == CID_A and isinstance(op["cid"], CID)
    assert op["path"] == "zone.stratos.feed.post/k0"
    assert op["boundary"] == {"values": [{"value": ENG}]}
    assert [len(b["ops"]) for _, b in _publication(0).message_bodies()] == [0]


def test_event_filters() -> None:
    body = _publication(1).message_bodies()[0][1]
    body["ops"].append({"action": "create", "path": "c/k", "collection": "c", "rkey": "k"})
    event = StoredEvent(7, "did:plc:x", "#commit", body)
    assert event.select(None, None) == {"seq": 7, **body}
    assert event.select("did:plc:other", None) is None
    only_eng = event.select(None, ENG)
    assert only_eng is not None and len(only_eng["ops"]) == 1
    assert event.select(None, DES) is None
    enrollment = StoredEvent(8, "did:plc:x", "#enrollment", {"did": "did:plc:x", "enrolled": False})
    assert enrollment.select(None, DES) == {"seq": 8, "did": "did:plc:x", "enrolled": False}
