"""The boundary rule the AppView applies, alone and through the index's timeline query."""

from __future__ import annotations

from pathlib import Path

import pytest
from appview_fakes import ALICE, BOB, CAROL, DAVE, DESIGN, ENGINEERING, SERVICE_DID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_impl.stratos.appview import index as index_module
from reference_impl.stratos.appview.events import CommitEvent, EnrollmentEvent, RecordOp
from reference_impl.stratos.appview.index import AppViewIndex
from reference_impl.stratos.appview.posts import POST_COLLECTION, UNBOUNDED, Boundary
from reference_impl.stratos.appview.visibility import Viewer, may_view

ENG = Boundary(True, frozenset({ENGINEERING}))
BOTH = Boundary(True, frozenset({ENGINEERING, DESIGN}))
EMPTY = Boundary(True, frozenset())  # a boundary naming no domain

eng_viewer = Viewer(BOB, True, frozenset({ENGINEERING}))
design_viewer = Viewer(CAROL, True, frozenset({DESIGN}))
enrolled_no_domains = Viewer(BOB, True, frozenset())
not_enrolled = Viewer(DAVE, False, frozenset())


@pytest.mark.parametrize(
    ("viewer", "author", "boundary", "visible"),
    [
        (eng_viewer, ALICE, ENG, True),  # shared domain
        (design_viewer, ALICE, ENG, False),  # no shared domain
        (design_viewer, ALICE, BOTH, True),  # any one shared domain is enough
        (eng_viewer, ALICE, UNBOUNDED, True),  # unbounded: any enrolled viewer
        (enrolled_no_domains, ALICE, UNBOUNDED, True),
        (enrolled_no_domains, ALICE, ENG, False),
        (not_enrolled, ALICE, UNBOUNDED, False),  # not enrolled: nothing of others
        (not_enrolled, ALICE, ENG, False),
        (not_enrolled, DAVE, ENG, True),  # the author always sees their own post
        (Viewer(ALICE, False, frozenset()), ALICE, EMPTY, True),
        (eng_viewer, ALICE, EMPTY, False),  # present-but-empty boundary: author only
        # Domains are compared whole: another service's "engineering" is another domain.
        (Viewer(BOB, True, frozenset({"did:web:other.test/engineering"})), ALICE, ENG, False),
    ],
)
def test_boundary_rule(viewer: Viewer, author: str, boundary: Boundary, visible: bool) -> None:
    assert may_view(viewer, author, boundary) is visible


# --- the same rule through SQLite, pagination included -----------------------------------------

DIDS = [ALICE, BOB, CAROL, DAVE]
DOMAINS = [ENGINEERING, DESIGN, f"{SERVICE_DID}/ops"]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, frozenset[str] | None], list[tuple]]:
    # None: never enrolled (or unenrolled before any post); a set: enrolled with those domains.
    enrollments = {
        did: draw(st.none() | st.frozensets(st.sampled_from(DOMAINS), max_size=3)) for did in DIDS
    }
    posts = draw(
        st.lists(
            st.tuples(
                st.sampled_from(DIDS),
                st.none() | st.frozensets(st.sampled_from(DOMAINS), max_size=2),
                # Few distinct times: many ties, which the uri must break.
                st.integers(min_value=0, max_value=4),
            ),
            max_size=25,
        )
    )
    return enrollments, posts


def _expected(viewer: str, enrollments: dict, author: str, domains: frozenset | None) -> bool:
    """The rule restated from docs/stratos.md, independently of visibility.py."""
    if viewer == author:
        return True
    mine = enrollments[viewer]
    if mine is None:
        return False
    return domains is None or bool(mine & domains)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds(), page_size=st.integers(min_value=1, max_value=7))
def test_timeline_pages_hold_exactly_the_visible_posts_in_order(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    world: tuple[dict, list[tuple]],
    page_size: int,
) -> None:
    # A tiny candidate batch so pages cross several SQL batches.
    monkeypatch.setattr(index_module, "_BATCH", 3)
    enrollments, posts = world
    index = AppViewIndex.open(Path(tmp_path_factory.mktemp("index")))
    seq = 0
    for did, domains in enrollments.items():
        if domains is not None:
            seq += 1
            index.apply(EnrollmentEvent(seq, did, True, tuple(sorted(domains)), ""))
    truth: dict[str, list[tuple[str, str]]] = {did: [] for did in DIDS}
    for n, (author, domains, minute) in enumerate(posts):
        seq += 1
        rkey = f"3kaaaaaaaa{n:03d}"
        record: dict = {
            "$type": POST_COLLECTION,
            "text": str(n),
            "createdAt": f"2024-05-01T10:0{minute}:00Z",
        }
        if domains is not None:
            record["boundary"] = {"values": [{"value": d} for d in sorted(domains)]}
        op = RecordOp("create", POST_COLLECTION, rkey, None, record)
        index.apply(CommitEvent(seq, author, "", "", (op,)))
        for viewer in DIDS:
            if _expected(viewer, enrollments, author, domains):
                uri = f"at://{author}/{POST_COLLECTION}/{rkey}"
                truth[viewer].append((f"2024-05-01T10:0{minute}:00.000000Z", uri))

    for viewer in DIDS:
        expected = [uri for _, uri in sorted(truth[viewer], reverse=True)]
        seen: list[str] = []
        after = None
        for _ in range(len(posts) + 2):
            page = index.timeline(viewer, page_size, after)
            assert len(page.posts) <= page_size
            seen.extend(p.uri for p in page.posts)
            if page.next_page is None:
                break
            assert len(page.posts) == page_size  # a cursor only on full pages
            after = page.next_page
        assert seen == expected, viewer
    index.db.close()
