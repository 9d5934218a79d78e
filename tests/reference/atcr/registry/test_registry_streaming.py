"""A ~50 MiB blob pushed in chunks of streamed pieces lands whole and intact.

Memory use is measured and printed here, and reported for the 1 GiB layer by
benchmarks/atcr_throughput.py; it is not asserted (a goal, not a behaviour)."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

from registry_support import HOLD, RunningRegistry

CHUNK = 10 * 1024 * 1024
PIECE = 64 * 1024
TOTAL = 5 * CHUNK


def pieces(start: int, length: int) -> Iterator[bytes]:
    """Deterministic bytes produced piece by piece, so the client holds no chunk whole."""
    for offset in range(start, start + length, PIECE):
        yield (offset // PIECE % 251).to_bytes(1, "big") * min(PIECE, start + length - offset)


def test_chunked_50mib_upload_lands_intact(reg: RunningRegistry) -> None:
    name = "alice.test/big"
    h = reg.push_auth(name)
    expected = hashlib.sha256()
    for piece in pieces(0, TOTAL):
        expected.update(piece)
    digest = "sha256:" + expected.hexdigest()

    tracemalloc.start()
    try:
        location = reg.http.post(f"/v2/{name}/blobs/uploads/", headers=h).headers["location"]
        for start in range(0, TOTAL, CHUNK):
            response = reg.http.patch(
                location,
                content=pieces(start, CHUNK),
                headers={
                    **h,
                    "Content-Range": f"{start}-{start + CHUNK - 1}",
                    "Content-Length": str(CHUNK),
                },
            )
            assert response.status_code == 202, response.text
        done = reg.http.put(location, params={"digest": digest}, headers=h)
        assert done.status_code == 201, done.text
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\ntracemalloc peak while pushing {TOTAL >> 20} MiB: {peak / 2**20:.1f} MiB")
    stored = reg.blobs.path(HOLD, digest)
    assert stored.stat().st_size == TOTAL
    with stored.open("rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == expected.hexdigest()
