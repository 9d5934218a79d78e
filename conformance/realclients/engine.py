"""A Docker engine (and skopeo) for the real-client check (ATCR-CLIENT-01) and its tests.

``./run verify`` and ``./run test`` call it (``python -m conformance.realclients.engine``, which
prints the ``DOCKER_HOST``); the check itself only looks for an engine and never starts one.

``ensure_docker_engine()`` makes one available and returns its ``DOCKER_HOST``:

1. installs Debian's ``docker.io`` and ``skopeo`` with apt when ``dockerd``/``skopeo`` are
   missing (``DEBIAN_FRONTEND=noninteractive``; needs root — otherwise ``EngineUnavailable``);
2. reuses an engine that already answers on :data:`DOCKER_HOST` (the project's own socket);
3. otherwise starts ``dockerd --bridge=none --iptables=false`` in the background on that socket,
   with its data in a stable cache directory (images built by earlier runs are reused), and
   waits until ``docker info`` answers.

The engine is deliberately LEFT RUNNING after the tests: starting dockerd costs seconds, and
later test runs (and the real-client check of ``atconform verify``, which looks for this socket)
reuse it. Stop it with ``kill $(cat /run/atconform-docker.pid)``. It has no bridge network and
touches no iptables rule (docs: ../shared/notes/environment.md); containers, if any, would use
host networking and traffic stays on loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SOCKET = Path("/run/atconform-docker.sock")
DOCKER_HOST = f"unix://{SOCKET}"
PIDFILE = Path("/run/atconform-docker.pid")
# Short: dockerd puts unix sockets under it, and socket paths are limited to ~100 bytes.
EXEC_ROOT = Path("/run/atconform-docker-exec")
APT_TIMEOUT_S = 600
START_TIMEOUT_S = 90.0
INFO_TIMEOUT_S = 15.0


class EngineUnavailable(RuntimeError):
    """No Docker engine could be provided; the message says why."""


def data_root() -> Path:
    """Where the engine keeps images between runs (``ATCONFORM_DOCKER_DATA`` overrides)."""
    configured = os.environ.get("ATCONFORM_DOCKER_DATA")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "atconform" / "docker"


def _missing_tools() -> list[str]:
    return [tool for tool in ("dockerd", "docker", "skopeo") if shutil.which(tool) is None]


def ensure_packages() -> None:
    """apt-get install docker.io and skopeo when any of their binaries is missing."""
    missing = _missing_tools()
    if not missing:
        return
    if os.geteuid() != 0:
        raise EngineUnavailable(f"{', '.join(missing)} missing and not root to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "docker.io", "skopeo"],
    ):
        try:
            done = subprocess.run(  # noqa: S603 - fixed apt argv, no shell
                argv, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineUnavailable(f"{' '.join(argv)} failed: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            raise EngineUnavailable(f"{' '.join(argv)} exited {done.returncode}: {tail[0]}")
    still = _missing_tools()
    if still:
        raise EngineUnavailable(f"still missing after apt-get install: {', '.join(still)}")


def engine_answers(docker_host: str = DOCKER_HOST) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(  # noqa: S603 - the docker binary, fixed argv
            [docker, "--host", docker_host, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _start_dockerd() -> Path:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable("no dockerd binary")
    root = data_root()
    root.mkdir(parents=True, exist_ok=True)
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    log_path = root.parent / "dockerd.log"
    with log_path.open("ab") as log:
        subprocess.Popen(  # noqa: S603 - the dockerd binary, fixed argv
            [
                dockerd,
                "--bridge=none",
                "--iptables=false",
                "--host",
                DOCKER_HOST,
                "--data-root",
                str(root),
                "--exec-root",
                str(EXEC_ROOT),
                "--pidfile",
                str(PIDFILE),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return log_path


def ensure_docker_engine() -> str:
    """A ``DOCKER_HOST`` whose engine answers (installing and starting it as needed)."""
    ensure_packages()
    if engine_answers():
        return DOCKER_HOST
    if os.geteuid() != 0:
        raise EngineUnavailable("no engine on the project socket and not root to start dockerd")
    log_path = _start_dockerd()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if engine_answers():
            return DOCKER_HOST
        time.sleep(0.5)
    tail = log_path.read_text("utf-8", "replace").strip().splitlines()[-3:]
    raise EngineUnavailable(
        f"dockerd did not answer within {START_TIMEOUT_S:g} s: " + " | ".join(tail)
    )


def main() -> int:
    try:
        print(ensure_docker_engine())
    except EngineUnavailable as exc:
        print(f"no Docker engine: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
