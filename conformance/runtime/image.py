"""The reference implementation's Docker image (docs/docker.md, "The image").

The harness builds ``atconform-reference:<hash>`` itself, so ``--runtime docker`` needs no
manual step:

- :func:`prepare_context` makes the offline build inputs under ``docker/build/`` (a wheelhouse
  pinned by ``constraints.txt``, and ``libfaketime`` when apt can fetch it);
- :func:`image_tag` names the image after everything that goes into it;
- :func:`ensure_image` reuses that image or builds it (``network_mode=none``);
- :func:`has_faketime` says whether the image can skew a service's clock.

The harness never imports ``reference_impl``; it only reads its files to hash them. The Docker
SDK is imported lazily, so this module loads without it. ``python -m conformance.runtime.image
prepare|build`` is the command-line face (``docker/prepare`` calls it).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import conformance
from conformance.errors import EXIT_COULD_NOT_RUN, HarnessError

if TYPE_CHECKING:
    # From the submodule: run from the repository root, mypy would take the docker/ folder (a
    # namespace package to it) for the SDK's top-level package.
    from docker.client import DockerClient

IMAGE_REPOSITORY = "atconform-reference"
LATEST_TAG = f"{IMAGE_REPOSITORY}:latest"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
OFFLINE_BASE_IMAGE = "atconform-base:bookworm"
DOCKERFILE = "docker/Dockerfile"
REQUIREMENTS = "docker/requirements.txt"
CONSTRAINTS = "constraints.txt"
# The sources copied into the image (and hashed into its tag).
SOURCE_DIRS = ("reference_impl", "lexicons")
FAKETIME_LIBRARY = "/usr/local/lib/faketime/libfaketime.so.1"
STAMP_NAME = ".prepared"
LOCK_NAME = ".lock"
PIP_TIMEOUT_S = 1800
APT_TIMEOUT_S = 300
LOG_TAIL_LINES = 25

Progress = Callable[[str], None]


class ImageError(HarnessError):
    """The image could not be prepared or built (one line; build log tail in ``details``)."""

    default_exit_code = EXIT_COULD_NOT_RUN


def _quiet(_message: str) -> None:
    """The default progress callback: say nothing."""


def project_root() -> Path:
    """The repository root this harness runs from (where ``docker/Dockerfile`` lives)."""
    root = Path(conformance.__file__).resolve().parent.parent
    if not (root / DOCKERFILE).is_file():
        raise ImageError(
            f"no {DOCKERFILE} under {root}: the Docker runtime needs a source checkout "
            "of atconform, not an installed package"
        )
    return root


# --- build context --------------------------------------------------------------------------


def _python_tag() -> str:
    """The interpreter the wheelhouse is made for (its compiled wheels are ABI-specific)."""
    return f"cp{sys.version_info.major}{sys.version_info.minor}-{os.uname().machine}"


def _inputs_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for name in (REQUIREMENTS, CONSTRAINTS):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    digest.update(_python_tag().encode())
    return digest.hexdigest()


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _make_wheelhouse(root: Path, wheels: Path, progress: Progress) -> None:
    """``pip wheel`` every requirement into a fresh ``wheels`` (never mixed with stale ones:
    the image installs unpinned names from it, so an old newer wheel would win)."""
    partial = wheels.with_name(wheels.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        str(root / REQUIREMENTS),
        "-c",
        str(root / CONSTRAINTS),
        "-w",
        str(partial),
    ]
    progress(f"building the wheelhouse ({REQUIREMENTS}, pinned by {CONSTRAINTS})")
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter's pip, fixed argv, no shell
            argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ImageError(f"pip wheel for the image could not run: {exc}") from None
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ImageError(
            f"pip wheel for the image failed (exit {done.returncode}); see the pip output below",
            details=_tail(done.stderr or done.stdout),
        )
    shutil.copyfile(root / REQUIREMENTS, partial / "requirements.txt")
    shutil.rmtree(wheels, ignore_errors=True)
    partial.rename(wheels)
    progress(f"wheelhouse ready: {sum(1 for _ in wheels.glob('*.whl'))} wheels in {wheels}")


def _download_debs(debs: Path, progress: Progress) -> None:
    """``apt-get download libfaketime`` into ``debs``; best effort (no libfaketime in the image
    only means clock skew is unavailable under Docker)."""
    for old in debs.glob("*.deb"):
        old.unlink()
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        progress("no apt-get here: the image gets no libfaketime (no clock skew under docker)")
        return
    try:
        done = subprocess.run(  # noqa: S603 - apt-get, fixed argv, no shell
            [apt_get, "download", "-q", "libfaketime"],
            cwd=debs,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        progress(f"apt-get download libfaketime failed ({exc}): the image gets no libfaketime")
        return
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        progress(f"apt-get download libfaketime failed ({last[0]}): the image gets no libfaketime")
        return
    progress(f"libfaketime for the image: {', '.join(p.name for p in sorted(debs.glob('*.deb')))}")


def prepare_context(root: Path, *, progress: Progress = _quiet) -> None:
    """Make ``docker/build/{wheels,debs}`` for an offline ``docker build`` (idempotent: redone
    only when ``docker/requirements.txt``, ``constraints.txt`` or the interpreter change)."""
    build = root / "docker" / "build"
    try:
        build.mkdir(parents=True, exist_ok=True)
        # One preparer at a time (parallel test workers, two harness runs): the second waits
        # and then finds the context ready.
        with (build / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _prepare_locked(root, build, progress)
    except OSError as exc:
        raise ImageError(f"cannot prepare {build}: {exc}") from None


def _prepare_locked(root: Path, build: Path, progress: Progress) -> None:
    wheels, debs = build / "wheels", build / "debs"
    stamp = build / STAMP_NAME
    wanted = _inputs_digest(root)
    ready = (
        stamp.is_file()
        and stamp.read_text(encoding="utf-8").strip() == wanted
        and (wheels / "requirements.txt").is_file()
        and debs.is_dir()
    )
    if ready:
        progress(f"build context up to date in {build}")
        return
    stamp.unlink(missing_ok=True)
    _make_wheelhouse(root, wheels, progress)
    debs.mkdir(exist_ok=True)
    _download_debs(debs, progress)
    stamp.write_text(wanted + "\n", encoding="utf-8")


# --- image ----------------------------------------------------------------------------------


def _hashed_files(root: Path) -> Iterator[Path]:
    for name in (DOCKERFILE, ".dockerignore", REQUIREMENTS, CONSTRAINTS):
        yield root / name
    for directory in SOURCE_DIRS:
        for path in sorted((root / directory).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def image_tag(root: Path, base_image_id: str) -> str:
    """``atconform-reference:<12 hex>`` over everything that goes into the image: Dockerfile,
    .dockerignore, requirements, constraints, the sources and the base image's id."""
    digest = hashlib.sha256()
    try:
        for path in _hashed_files(root):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError as exc:
        raise ImageError(f"cannot read the image sources: {exc}") from None
    digest.update(b"base\0" + base_image_id.encode())
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:12]}"


def _base_image_id(client: DockerClient, base_image: str, progress: Progress) -> str:
    from docker.errors import DockerException, ImageNotFound

    try:
        return str(client.images.get(base_image).id)
    except ImageNotFound:
        pass
    except DockerException as exc:
        raise ImageError(f"cannot look up base image {base_image}: {exc}") from None
    progress(f"base image {base_image} is not here; trying to pull it")
    try:
        return str(client.images.pull(base_image).id)
    except DockerException:
        raise ImageError(
            f"base image {base_image} is not available and cannot be pulled; build one "
            f"without a registry with docker/offline-base-image and use "
            f"--base-image {OFFLINE_BASE_IMAGE}"
        ) from None


def _log_lines(build_log: Iterable[Any]) -> list[str]:
    lines: list[str] = []
    for chunk in build_log:
        if isinstance(chunk, dict):
            text = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
            lines.extend(line for line in str(text).splitlines() if line.strip())
    return lines


def ensure_image(
    client: DockerClient,
    root: Path,
    base_image: str,
    *,
    progress: Progress = _quiet,
) -> str:
    """The tag of an image of the reference implementation built from ``root`` on
    ``base_image``: reused when present, else prepared and built offline. Also tags it
    ``atconform-reference:latest``."""
    from docker.errors import BuildError, DockerException, ImageNotFound

    tag = image_tag(root, _base_image_id(client, base_image, progress))
    try:
        image = client.images.get(tag)
        progress(f"reusing image {tag}")
    except DockerException as exc:
        if not isinstance(exc, ImageNotFound):
            raise ImageError(f"cannot look up image {tag}: {exc}") from None
        prepare_context(root, progress=progress)
        progress(f"building image {tag} from {base_image} (no network)")
        try:
            image, _log = client.images.build(
                path=str(root),
                dockerfile=DOCKERFILE,
                tag=tag,
                buildargs={"BASE_IMAGE": base_image},
                network_mode="none",
                rm=True,
                forcerm=True,
            )
        except BuildError as exc:
            lines = _log_lines(exc.build_log)
            last = lines[-1] if lines else exc.msg
            raise ImageError(
                f"building {tag} failed: {last}",
                details="\n".join(lines[-LOG_TAIL_LINES:]),
            ) from None
        except DockerException as exc:
            raise ImageError(f"building {tag} failed: {exc}") from None
        progress(f"built image {tag}")
    try:
        image.tag(IMAGE_REPOSITORY, "latest")
    except DockerException as exc:
        raise ImageError(f"cannot tag {tag} as {LATEST_TAG}: {exc}") from None
    return tag


_FAKETIME_BY_IMAGE: dict[str, bool] = {}


def has_faketime(client: DockerClient, tag: str) -> bool:
    """Whether image ``tag`` holds libfaketime at :data:`FAKETIME_LIBRARY` (checked in a
    created, never started container; remembered per image id)."""
    from docker.errors import DockerException, NotFound

    try:
        image_id = str(client.images.get(tag).id)
    except DockerException as exc:
        raise ImageError(f"cannot inspect image {tag}: {exc}") from None
    if image_id in _FAKETIME_BY_IMAGE:
        return _FAKETIME_BY_IMAGE[image_id]
    try:
        container = client.containers.create(image_id, entrypoint=["true"], network_mode="none")
    except DockerException as exc:
        raise ImageError(f"cannot inspect image {tag}: {exc}") from None
    try:
        container.get_archive(FAKETIME_LIBRARY)
        found = True
    except NotFound:
        found = False
    except DockerException as exc:
        raise ImageError(f"cannot inspect image {tag}: {exc}") from None
    finally:
        try:
            # v=True: the image declares VOLUME /data, so creating the container made an
            # anonymous volume that would otherwise outlive it.
            container.remove(force=True, v=True)
        except DockerException:
            pass  # best effort: a leftover created container holds nothing
    _FAKETIME_BY_IMAGE[image_id] = found
    return found


# --- command line ---------------------------------------------------------------------------


def _docker_client() -> DockerClient:
    try:
        from docker.client import DockerClient
        from docker.errors import DockerException
    except ImportError:
        raise ImageError(
            "the Docker SDK is not installed (pip install 'atconform[docker]')"
        ) from None
    from conformance.realclients.engine import DOCKER_HOST

    base_url = os.environ.get("DOCKER_HOST") or DOCKER_HOST
    try:
        client = DockerClient(base_url=base_url)
        client.ping()
    except DockerException:
        raise ImageError(f"no Docker engine reachable at {base_url}") from None
    return client


def _say(message: str) -> None:
    print(f"atconform: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.runtime.image",
        description="Prepare the build context of, or build, the reference implementation image.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="make docker/build/ (wheelhouse, libfaketime)")
    build = commands.add_parser("build", help="build (or reuse) the image; prints its tag")
    build.add_argument(
        "--base-image",
        default=os.environ.get("ATCONFORM_BASE_IMAGE") or DEFAULT_BASE_IMAGE,
        help=f"BASE_IMAGE build argument (env ATCONFORM_BASE_IMAGE; default {DEFAULT_BASE_IMAGE})",
    )
    args = parser.parse_args(argv)
    try:
        root = project_root()
        if args.command == "prepare":
            prepare_context(root, progress=_say)
        else:
            print(ensure_image(_docker_client(), root, args.base_image, progress=_say))
    except HarnessError as exc:
        print(f"atconform: {exc.message}", file=sys.stderr)
        if exc.details:
            print(exc.details, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
