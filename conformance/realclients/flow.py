"""ATCR-CLIENT-01's sequence: docker login/build/push/rmi/pull, then skopeo copies both ways,
then the owner's records. Returns every step; ``conformance.checks.atcr`` judges them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conformance.clients.pds import PdsClient
from conformance.realclients.commands import CommandStep
from conformance.realclients.docker import DockerCli, pushed_digest
from conformance.realclients.images import write_build_context
from conformance.realclients.skopeo import SkopeoCli
from conformance.redact import Redactor
from conformance.scenarios.atcr import (
    MANIFEST_COLLECTION,
    TAG_COLLECTION,
    AtcrUser,
    RecordListing,
    list_collection,
)

LAYERS = 3


@dataclass(frozen=True)
class RealClientRun:
    registry_host: str
    docker_repository: str  # <handle>/<path>
    skopeo_repository: str
    steps: tuple[CommandStep, ...]
    pushed_digest: str | None
    manifests: RecordListing | None
    tags: RecordListing | None


def registry_host(registry_url: str) -> str:
    """``http://127.0.0.1:5000`` → ``127.0.0.1:5000`` (what image references start with)."""
    return urlsplit(registry_url).netloc


def run_real_clients(
    registry_url: str,
    user: AtcrUser,
    pds: PdsClient,
    redactor: Redactor,
    *,
    docker_host: str | None = None,
    work_dir: Path | None = None,
) -> RealClientRun:
    host = registry_host(registry_url)
    suffix = os.urandom(4).hex()
    docker_repo = f"{user.handle}/atconform-docker-{suffix}"
    skopeo_repo = f"{user.handle}/atconform-skopeo-{suffix}"
    reference = f"{host}/{docker_repo}:v1"
    steps: list[CommandStep] = []
    with tempfile.TemporaryDirectory(prefix="atconform-clients-", dir=work_dir) as tmp:
        root = Path(tmp)
        docker = DockerCli(redactor, root / "docker-config", docker_host)
        skopeo = SkopeoCli(redactor, docker_host)
        context = write_build_context(root / "context", layers=LAYERS)
        digest: str | None = None
        try:
            build = docker.build(context, reference)
            steps.append(build)
            if not build.ok:
                return RealClientRun(host, docker_repo, skopeo_repo, tuple(steps), None, None,
                                     None)
            login = docker.login(host, user.handle, user.password)
            steps.append(login)
            if login.ok:
                push = docker.push(reference)
                steps.append(push)
                digest = pushed_digest(push)
                if push.ok:
                    steps.append(docker.remove(reference))
                    steps.append(docker.pull(reference))
            skopeo_remote = f"{host}/{skopeo_repo}:v1"
            to_registry = skopeo.push_from_daemon(reference, skopeo_remote, user.handle,
                                                  user.password)
            steps.append(to_registry)
            if to_registry.ok:
                layout = root / "oci-layout"
                pulled = skopeo.pull_to_oci_dir(skopeo_remote, layout, user.handle,
                                                user.password)
                steps.append(pulled)
                if pulled.ok:
                    steps.append(skopeo.push_from_oci_dir(
                        layout, f"{host}/{skopeo_repo}:copied", user.handle, user.password))
        finally:
            # Cleanup is not evidence: a failing rmi/logout must not decide the verdict.
            docker.remove(reference)
            docker.logout(host)
    return RealClientRun(
        host, docker_repo, skopeo_repo, tuple(steps), digest,
        list_collection(pds, user.did, MANIFEST_COLLECTION),
        list_collection(pds, user.did, TAG_COLLECTION),
    )
