"""Run the reference services as containers through the Docker SDK (``--runtime docker``).

One image for every service (``docker/Dockerfile``), one container per service with host
networking so each binds 127.0.0.1 exactly as the processes do, data in a named volume per
service so a killed container restarts with its data. Everything a run creates carries the label
``io.atconform.run=<run id>`` and is removed when the runtime stops — on exit, on Ctrl-C and on
errors. The contract is docs/docker.md.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError, HarnessError
from conformance.realclients.engine import DOCKER_HOST as ENGINE_DOCKER_HOST
from conformance.realclients.engine import SOCKET as ENGINE_SOCKET
from conformance.runtime.faketime import IMAGE_LIBRARY, faketime_env
from conformance.runtime.process import LOOPBACK, ServiceLifecycle, ServiceSpec, wait_healthy

# The SDK ships no type information (and the repo's docker/ directory would shadow it for
# mypy), so its objects are typed as Any here.
DockerClient = Any
Container = Any

RUN_LABEL = "io.atconform.run"
DATA_DIR = "/data"
API_TIMEOUT_S = 120


def sdk_module(name: str) -> Any:
    """A module of the Docker SDK, imported on first use (an optional dependency). Never a bare
    ``import docker``: run from the repository root, that would find the docker/ folder."""
    return importlib.import_module(f"docker.{name}")


def docker_host(env: dict[str, str] | None = None) -> str:
    environ = os.environ if env is None else env
    configured = environ.get("DOCKER_HOST")
    if configured:
        return configured
    # The engine ./run starts (conformance.realclients.engine), when it exists.
    if ENGINE_SOCKET.exists():
        return ENGINE_DOCKER_HOST
    return "unix:///var/run/docker.sock"


def connect(host: str | None = None) -> DockerClient:
    """A client whose engine answers, or one clear line suggesting the process runtime."""
    where = host or docker_host()
    try:
        client_module, errors = sdk_module("client"), sdk_module("errors")
    except ImportError:
        raise HarnessError(
            "--runtime docker needs the Docker SDK (pip install 'atconform[docker]'); "
            "or use --runtime process"
        ) from None
    try:
        client = client_module.DockerClient(base_url=where, timeout=API_TIMEOUT_S)
        client.ping()
    except errors.DockerException:
        raise HarnessError(
            f"no Docker engine reachable at {where} — start one (./run starts dockerd as root) "
            "or use --runtime process"
        ) from None
    return client


@dataclass
class _Container:
    spec: ServiceSpec
    container: Container
    volume: str


class DockerRuntime(ServiceLifecycle[_Container]):
    """Reference services as containers; the same interface as ``ProcessRuntime``."""

    def __init__(
        self,
        client: DockerClient,
        image: str,
        log_dir: Path,
        *,
        faketime: bool = False,
        startup_timeout: float = 60.0,
        stop_grace: float = 5.0,
        run_id: str | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.image = image
        self.log_dir = log_dir
        self.faketime = faketime
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.run_id = run_id or secrets.token_hex(4)

    @property
    def log_paths(self) -> dict[str, Path]:
        """Where each service's log is written (when its container is removed)."""
        return {name: self.log_dir / f"{name}.log" for name in self._running}

    @property
    def description(self) -> str:
        return (
            f"Docker containers {self.container_name('*')} from image {self.image} "
            "(host networking)"
        )

    def container_name(self, name: str) -> str:
        return f"atconform-{self.run_id}-{name}"

    def exited(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in self._running:
            code = self._exit_code(name)
            if code is not None:
                out[name] = code
        return out

    def log_location(self, name: str) -> str:
        return f"docker logs -f {self.container_name(name)}"

    def log_tail(self, name: str, lines: int = 20) -> str:
        c = self._running.get(name)
        if c is None:
            return ""
        with contextlib.suppress(self._errors()):
            return bytes(c.container.logs(tail=lines)).decode("utf-8", "replace").rstrip()
        return ""

    def pid(self, name: str) -> int:
        container = self._get(name).container
        container.reload()
        return int(container.attrs["State"]["Pid"])

    # --- fault control ------------------------------------------------------------------------

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        container = self._get(name).container
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status not in ("running", "paused"):
            return
        container.kill(signal=int(sig))
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self._wait_exit(container)

    def restart(self, name: str) -> str:
        c = self._get(name)
        container = c.container
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status == "running":
            container.stop(timeout=int(self.stop_grace))
        container.start()
        self._wait_healthy(name)
        return c.spec.url

    def pause(self, name: str) -> None:
        """Freeze every process of the service (cgroup freezer); the kernel still accepts
        connections on its port, nothing answers them."""
        self._get(name).container.pause()

    def resume(self, name: str) -> None:
        self._get(name).container.unpause()

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    def _errors() -> type[Exception]:
        exception: type[Exception] = sdk_module("errors").DockerException
        return exception

    def command(self, spec: ServiceSpec) -> list[str]:
        argv = [spec.name, "--host", LOOPBACK, "--port", str(spec.port), "--data-dir", DATA_DIR]
        for fault in spec.faults:
            argv += ["--fault", fault]
        return argv

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        env = {**spec.env, "PYTHONUNBUFFERED": "1"}
        if spec.clock_offset_s:
            if not self.faketime:
                raise ConfigError(
                    f"skewing {spec.name}'s clock needs libfaketime in the image "
                    f"({self.image} has none); rebuild it where apt-get can download libfaketime"
                )
            env.update(faketime_env(spec.clock_offset_s, IMAGE_LIBRARY))
        return env

    def _launch(self, spec: ServiceSpec) -> None:
        labels = {RUN_LABEL: self.run_id, "io.atconform.service": spec.name}
        volume = self.container_name(spec.name)
        env = self.environment(spec)
        self.client.volumes.create(name=volume, labels=labels)
        try:
            container = self.client.containers.run(
                self.image,
                self.command(spec),
                name=self.container_name(spec.name),
                detach=True,
                network_mode="host",
                environment=env,
                volumes={volume: {"bind": DATA_DIR, "mode": "rw"}},
                labels=labels,
            )
        except self._errors() as exc:
            self._discard(lambda: self.client.volumes.get(volume).remove(force=True))
            raise HarnessError(f"could not start the {spec.name} container: {exc}") from None
        self._running[spec.name] = _Container(spec, container, volume)

    def _exit_code(self, name: str) -> int | None:
        container = self._running[name].container
        try:
            container.reload()
        except self._errors():
            return -1
        if container.status in ("exited", "dead"):
            return int(container.attrs["State"]["ExitCode"])
        return None

    def _wait_healthy(self, name: str) -> None:
        c = self._running[name]
        wait_healthy(
            c.spec,
            self.startup_timeout,
            exit_code=lambda: self._exit_code(name),
            where=self.log_location(name),
            log_tail=lambda: self.log_tail(name),
        )

    def _wait_exit(self, container: Container) -> None:
        try:
            container.wait(timeout=self.stop_grace)
        except Exception:
            self._discard(lambda: container.kill())

    def _terminate(self, name: str) -> None:
        c = self._running.pop(name)
        container = c.container
        self._discard(container.reload)
        if container.status == "paused":
            self._discard(container.unpause)
        self._discard(lambda: container.stop(timeout=int(self.stop_grace)))
        self._save_logs(name, container)
        self._discard(lambda: container.remove(force=True))
        self._discard(lambda: self.client.volumes.get(c.volume).remove(force=True))

    def _save_logs(self, name: str, container: Container) -> None:
        def save() -> None:
            data: Any = container.logs(stdout=True, stderr=True)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with (self.log_dir / f"{name}.log").open("ab") as log:
                log.write(bytes(data))

        self._discard(save)

    def _discard(self, action: Callable[[], object]) -> None:
        """Clean-up steps go on after a failure: one stuck container must not keep the rest
        (or their volumes) alive."""
        with contextlib.suppress(self._errors(), OSError):
            action()
