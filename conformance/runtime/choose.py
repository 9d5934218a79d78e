"""Open the runtime the user chose (``--runtime process|docker``) as one context manager."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from conformance.runtime.base import ServiceRuntime
from conformance.runtime.process import ProcessRuntime

RUNTIMES = ("process", "docker")
BASE_IMAGE_ENV = "ATCONFORM_BASE_IMAGE"
DEFAULT_BASE_IMAGE = "python:3.11-slim"


def default_base_image() -> str:
    return os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE


@contextmanager
def open_runtime(
    kind: str,
    data_dir: Path,
    log_dir: Path,
    *,
    base_image: str | None = None,
    clock_skew: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> Iterator[ServiceRuntime]:
    """Everything the runtime started is stopped (and, for docker, removed) on exit."""
    if kind == "process":
        with ProcessRuntime(data_dir, log_dir) as runtime:
            yield runtime
        return
    # Imported here: the Docker SDK is an optional dependency of the process runtime's users.
    from conformance.runtime.docker import DockerRuntime, connect
    from conformance.runtime.image import ensure_image, has_faketime, project_root

    client = connect()
    try:
        tag = ensure_image(client, project_root(), base_image or default_base_image(),
                           progress=progress)
        faketime = clock_skew and has_faketime(client, tag)
        with DockerRuntime(client, tag, log_dir, faketime=faketime) as docker_runtime:
            yield docker_runtime
    finally:
        client.close()
