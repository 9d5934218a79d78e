"""conformance/runtime/image.py without an engine: the image tag, the build context that
``prepare_context`` makes, and ``ensure_image``'s decisions against a stand-in client."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance.errors import EXIT_COULD_NOT_RUN
from conformance.runtime import image
from conformance.runtime.image import (
    ImageError,
    ensure_image,
    image_tag,
    prepare_context,
    project_root,
)

ROOT = Path(__file__).resolve().parents[2]
TAG = re.compile(r"atconform-reference:[0-9a-f]{12}")


def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "docker/Dockerfile": "FROM scratch\n",
        ".dockerignore": "*\n",
        "docker/requirements.txt": "httpx\n",
        "constraints.txt": "httpx==0.28.1\n",
        "reference_impl/__init__.py": "",
        "reference_impl/pds/app.py": "x = 1\n",
        "lexicons/com/example/a.json": "{}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


# --- project_root / image_tag ---------------------------------------------------------------


def test_project_root_is_this_checkout() -> None:
    assert project_root() == ROOT


def test_project_root_without_a_dockerfile_is_an_image_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conformance, "__file__", str(tmp_path / "conformance" / "__init__.py"))
    with pytest.raises(ImageError) as raised:
        project_root()
    assert "docker/Dockerfile" in raised.value.message
    assert raised.value.exit_code == EXIT_COULD_NOT_RUN


def test_the_tag_is_stable_and_well_formed(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    assert TAG.fullmatch(image_tag(root, "sha256:base"))
    assert image_tag(root, "sha256:base") == image_tag(root, "sha256:base")


@pytest.mark.parametrize(
    "change",
    [
        "reference_impl/pds/app.py",
        "lexicons/com/example/a.json",
        "docker/Dockerfile",
        ".dockerignore",
        "docker/requirements.txt",
        "constraints.txt",
    ],
)
def test_the_tag_changes_with_every_input(tmp_path: Path, change: str) -> None:
    root = fake_root(tmp_path)
    before = image_tag(root, "sha256:base")
    with (root / change).open("a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    assert image_tag(root, "sha256:base") != before


def test_the_tag_changes_with_the_base_image_and_new_files(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    before = image_tag(root, "sha256:base")
    assert image_tag(root, "sha256:other") != before
    (root / "reference_impl" / "new.py").write_text("", encoding="utf-8")
    assert image_tag(root, "sha256:base") != before


def test_the_tag_ignores_bytecode(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    before = image_tag(root, "sha256:base")
    cache = root / "reference_impl" / "pds" / "__pycache__"
    cache.mkdir()
    (cache / "app.cpython-311.pyc").write_bytes(b"\0" * 16)
    (root / "reference_impl" / "stray.pyc").write_bytes(b"\0")
    assert image_tag(root, "sha256:base") == before


def test_the_tag_of_this_checkout_covers_its_sources() -> None:
    hashed = {p.relative_to(ROOT).as_posix() for p in image._hashed_files(ROOT)}
    assert "docker/Dockerfile" in hashed
    assert "reference_impl/__main__.py" in hashed
    assert "reference_impl/pds/oauth/templates/base.html" in hashed
    assert any(name.startswith("lexicons/") and name.endswith(".json") for name in hashed)
    assert not any("__pycache__" in name for name in hashed)


# --- prepare_context ------------------------------------------------------------------------


class FakeTools:
    """Stands in for ``subprocess.run`` of pip and apt-get, recording each call."""

    def __init__(self, *, pip_exit: int = 0, apt_exit: int = 0) -> None:
        self.calls: list[tuple[list[str], Path | None]] = []
        self.pip_exit = pip_exit
        self.apt_exit = apt_exit

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        cwd = kwargs.get("cwd")
        self.calls.append((list(argv), Path(cwd) if cwd else None))
        if argv[1:4] == ["-m", "pip", "wheel"]:
            if self.pip_exit == 0:
                out = Path(argv[argv.index("-w") + 1])
                (out / "httpx-0.28.1-py3-none-any.whl").write_bytes(b"wheel")
            return subprocess.CompletedProcess(argv, self.pip_exit, "", "pip: no such version")
        if Path(argv[0]).name == "apt-get":
            if self.apt_exit == 0:
                (Path(cwd) / "libfaketime_0.9.10_amd64.deb").write_bytes(b"deb")
            return subprocess.CompletedProcess(argv, self.apt_exit, "", "E: Unable to locate")
        raise AssertionError(f"unexpected command {argv}")

    def commands(self) -> list[str]:
        return [
            "pip" if argv[0] == sys.executable else Path(argv[0]).name for argv, _ in self.calls
        ]


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeTools]:
    def install(*, apt: bool = True, **kwargs: int) -> FakeTools:
        fake = FakeTools(**kwargs)
        monkeypatch.setattr(image.subprocess, "run", fake)
        monkeypatch.setattr(image.shutil, "which", lambda name: "/usr/bin/apt-get" if apt else None)
        return fake

    return install


def test_prepare_makes_the_wheelhouse_and_fetches_libfaketime(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    root = fake_root(tmp_path)
    fake = tools()
    said: list[str] = []
    prepare_context(root, progress=said.append)
    build = root / "docker" / "build"
    assert fake.commands() == ["pip", "apt-get"]
    pip_argv = fake.calls[0][0]
    assert pip_argv[:4] == [sys.executable, "-m", "pip", "wheel"]
    assert pip_argv[pip_argv.index("-r") + 1] == str(root / "docker" / "requirements.txt")
    assert pip_argv[pip_argv.index("-c") + 1] == str(root / "constraints.txt")
    assert fake.calls[1][0][1:] == ["download", "-q", "libfaketime"]
    assert fake.calls[1][1] == build / "debs"
    assert (build / "wheels" / "requirements.txt").read_text() == "httpx\n"
    assert [p.name for p in (build / "wheels").glob("*.whl")] == ["httpx-0.28.1-py3-none-any.whl"]
    assert [p.name for p in (build / "debs").iterdir()] == ["libfaketime_0.9.10_amd64.deb"]
    assert not (build / "wheels.partial").exists()
    assert any("libfaketime" in line for line in said)


def test_prepare_is_idempotent(tmp_path: Path, tools: Callable[..., FakeTools]) -> None:
    root = fake_root(tmp_path)
    prepare_context(root)
    again = tools()
    prepare_context(root)
    assert again.calls == []


@pytest.mark.parametrize("changed", ["docker/requirements.txt", "constraints.txt"])
def test_prepare_redoes_the_wheelhouse_when_its_inputs_change(
    tmp_path: Path, tools: Callable[..., FakeTools], changed: str
) -> None:
    root = fake_root(tmp_path)
    tools()
    prepare_context(root)
    stale = root / "docker" / "build" / "wheels" / "httpx-9.9.9-py3-none-any.whl"
    stale.write_bytes(b"old")
    (root / changed).write_text("httpx\nregex\n", encoding="utf-8")
    fake = tools()
    prepare_context(root)
    assert fake.commands() == ["pip", "apt-get"]
    assert not stale.exists()  # an old newer wheel would beat the pinned one
    if changed == "docker/requirements.txt":
        wheelhouse_copy = root / "docker" / "build" / "wheels" / "requirements.txt"
        assert wheelhouse_copy.read_text() == "httpx\nregex\n"


def test_prepare_without_apt_get_leaves_debs_empty_and_says_so(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    root = fake_root(tmp_path)
    fake = tools(apt=False)
    said: list[str] = []
    prepare_context(root, progress=said.append)
    assert fake.commands() == ["pip"]
    assert list((root / "docker" / "build" / "debs").iterdir()) == []
    assert any("no libfaketime" in line for line in said)
    quiet = tools()  # stamped all the same: apt-get is not retried on every run
    prepare_context(root)
    assert quiet.calls == []


def test_a_failing_apt_get_is_not_fatal(tmp_path: Path, tools: Callable[..., FakeTools]) -> None:
    root = fake_root(tmp_path)
    tools(apt_exit=100)
    said: list[str] = []
    prepare_context(root, progress=said.append)
    assert list((root / "docker" / "build" / "debs").iterdir()) == []
    assert any("E: Unable to locate" in line for line in said)


def test_a_failing_pip_is_an_image_error_and_nothing_is_stamped(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    root = fake_root(tmp_path)
    tools(pip_exit=1)
    with pytest.raises(ImageError) as raised:
        prepare_context(root)
    assert "pip wheel" in raised.value.message
    assert "\n" not in raised.value.message
    assert "pip: no such version" in raised.value.details
    assert not (root / "docker" / "build" / "wheels").exists()
    retry = tools()
    prepare_context(root)
    assert retry.commands() == ["pip", "apt-get"]


# --- ensure_image against a stand-in client -------------------------------------------------

try:
    from docker import errors
except ImportError:  # the SDK is the optional extra "docker"
    errors = None
needs_sdk = pytest.mark.skipif(errors is None, reason="the Docker SDK is not installed")


class FakeImage:
    def __init__(self, image_id: str) -> None:
        self.id = image_id
        self.tags: list[tuple[str, str]] = []

    def tag(self, repository: str, tag: str) -> bool:
        self.tags.append((repository, tag))
        return True


class FakeImages:
    def __init__(self, present: dict[str, FakeImage], *, build_log: list[Any] | None = None):
        self.present = present
        self.build_log = build_log
        self.pulled: list[str] = []
        self.builds: list[dict[str, Any]] = []

    def get(self, name: str) -> FakeImage:
        if name not in self.present:
            raise errors.ImageNotFound(f"No such image: {name}")
        return self.present[name]

    def pull(self, name: str) -> FakeImage:
        self.pulled.append(name)
        raise errors.APIError("pull access denied")

    def build(self, **kwargs: Any) -> tuple[FakeImage, list[Any]]:
        self.builds.append(kwargs)
        if self.build_log is not None:
            raise errors.BuildError("The command returned a non-zero code: 1", self.build_log)
        built = FakeImage("sha256:built")
        self.present[kwargs["tag"]] = built
        return built, []


class FakeClient:
    def __init__(self, images: FakeImages) -> None:
        self.images = images


@needs_sdk
def test_a_missing_base_that_cannot_be_pulled_names_the_offline_script(tmp_path: Path) -> None:
    images = FakeImages({})
    with pytest.raises(ImageError) as raised:
        ensure_image(FakeClient(images), fake_root(tmp_path), "python:3.11-slim")
    assert images.pulled == ["python:3.11-slim"]
    assert images.builds == []
    message = raised.value.message
    assert "docker/offline-base-image" in message
    assert "--base-image atconform-base:bookworm" in message
    assert "\n" not in message


@needs_sdk
def test_an_existing_image_is_reused_and_tagged_latest(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    root = fake_root(tmp_path)
    tag = image_tag(root, "sha256:base")
    existing = FakeImage("sha256:existing")
    images = FakeImages({"atconform-base:bookworm": FakeImage("sha256:base"), tag: existing})
    fake = tools()
    assert ensure_image(FakeClient(images), root, "atconform-base:bookworm") == tag
    assert images.builds == []
    assert fake.calls == []  # not even the build context is prepared
    assert existing.tags == [("atconform-reference", "latest")]


@needs_sdk
def test_a_missing_image_is_built_offline_from_the_repository(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    root = fake_root(tmp_path)
    images = FakeImages({"atconform-base:bookworm": FakeImage("sha256:base")})
    tools()
    tag = ensure_image(FakeClient(images), root, "atconform-base:bookworm")
    assert tag == image_tag(root, "sha256:base")
    [build] = images.builds
    assert build == {
        "path": str(root),
        "dockerfile": "docker/Dockerfile",
        "tag": tag,
        "buildargs": {"BASE_IMAGE": "atconform-base:bookworm"},
        "network_mode": "none",
        "rm": True,
        "forcerm": True,
    }
    assert (root / "docker" / "build" / "wheels" / "requirements.txt").is_file()
    assert images.present[tag].tags == [("atconform-reference", "latest")]


@needs_sdk
def test_a_failed_build_is_one_line_with_the_log_tail(
    tmp_path: Path, tools: Callable[..., FakeTools]
) -> None:
    log = [{"stream": f"Step {n}/30 : RUN something\n"} for n in range(1, 30)]
    log.append({"error": "The command '/bin/sh -c pip install' returned a non-zero code: 1"})
    images = FakeImages({"b": FakeImage("sha256:base")}, build_log=log)
    tools()
    with pytest.raises(ImageError) as raised:
        ensure_image(FakeClient(images), fake_root(tmp_path), "b")
    assert "returned a non-zero code: 1" in raised.value.message
    assert "\n" not in raised.value.message
    details = raised.value.details.splitlines()
    assert details[-1].startswith("The command")
    assert "Step 29/30 : RUN something" in details
    assert "Step 1/30 : RUN something" not in details  # only the tail
