"""The ``docker`` command line against a registry: login, build, push, rmi, pull, logout."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from conformance.realclients.commands import CommandStep, run_step
from conformance.redact import Redactor

STEP_TIMEOUT_S = 180.0
INFO_TIMEOUT_S = 20.0
_PUSHED_DIGEST = re.compile(r"digest:\s*(sha256:[0-9a-f]{64})")


def docker_unavailable(docker_host: str | None = None) -> str | None:
    """Why docker cannot be used here (no binary, no engine answering), or None."""
    binary = shutil.which("docker")
    if binary is None:
        return "no docker binary on PATH"
    env = {"DOCKER_HOST": docker_host} if docker_host else {}
    info = run_step("docker info", [binary, "info", "--format", "{{.ServerVersion}}"],
                    redactor=Redactor(), timeout=INFO_TIMEOUT_S, env=env)
    if not info.ok:
        tail = info.output.strip().splitlines()[-1:] or [info.note]
        return f"no Docker engine answers ({tail[0]})"
    return None


def pushed_digest(step: CommandStep) -> str | None:
    match = _PUSHED_DIGEST.search(step.output)
    return match.group(1) if match else None


class DockerCli:
    """``docker`` with a private ``DOCKER_CONFIG`` (credentials never reach the user's own) and
    an optional ``DOCKER_HOST``. Each method runs one bounded step and returns it."""

    def __init__(
        self, redactor: Redactor, config_dir: Path, docker_host: str | None = None,
        timeout: float = STEP_TIMEOUT_S,
    ) -> None:
        self.redactor = redactor
        self.timeout = timeout
        self.env: Mapping[str, str] = {
            "DOCKER_CONFIG": str(config_dir),
            # The classic builder: FROM scratch + COPY needs no BuildKit and no network.
            "DOCKER_BUILDKIT": "0",
            **({"DOCKER_HOST": docker_host} if docker_host else {}),
        }
        self.binary = shutil.which("docker") or "docker"

    def _run(self, label: str, *args: str, stdin: str | None = None) -> CommandStep:
        return run_step(label, [self.binary, *args], redactor=self.redactor,
                        timeout=self.timeout, stdin=stdin, env=self.env)

    def login(self, registry_host: str, username: str, password: str) -> CommandStep:
        return self._run("docker login", "login", "--username", username, "--password-stdin",
                         registry_host, stdin=password + "\n")

    def build(self, context: Path, reference: str) -> CommandStep:
        return self._run("docker build", "build", "--tag", reference, str(context))

    def push(self, reference: str) -> CommandStep:
        return self._run("docker push", "push", reference)

    def remove(self, reference: str) -> CommandStep:
        return self._run("docker rmi", "rmi", "--force", reference)

    def pull(self, reference: str) -> CommandStep:
        return self._run("docker pull", "pull", reference)

    def inspect_digests(self, reference: str) -> CommandStep:
        return self._run("docker inspect", "image", "inspect", "--format",
                         "{{json .RepoDigests}}", reference)

    def logout(self, registry_host: str) -> CommandStep:
        return self._run("docker logout", "logout", registry_host)
