"""A multi-layer image built from nothing: a Dockerfile ``FROM scratch`` with one ``COPY`` of a
random file per layer (no base image is reachable from this machine, and none is needed)."""

from __future__ import annotations

import os
from pathlib import Path


def write_build_context(directory: Path, layers: int = 3, size: int = 64 * 1024) -> Path:
    """Random files and a Dockerfile copying each into its own layer; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["FROM scratch"]
    for index in range(layers):
        name = f"layer{index}.bin"
        (directory / name).write_bytes(os.urandom(size))
        lines.append(f"COPY {name} /atconform/{name}")
    lines.append('LABEL org.opencontainers.image.title="atconform real-client check"')
    (directory / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
