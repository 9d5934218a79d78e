"""Reading ``<PREFIX>_*`` env settings: one clear ``ConfigError`` naming the variable per bad
value, so a typo in a deployment fails at startup rather than on the first request."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Self

from .faults import Faults
from .service import ServiceSettings


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def split_list(raw: str) -> list[str]:
    """``a, b,,c`` -> ["a", "b", "c"]."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def url_setting(raw: str, variable: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{variable} must be an http(s) URL, got {raw!r}")
    return value


def positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{variable} must be positive, got {value}")
    return value


def bool_setting(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = env.get(variable, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable} must be true or false, got {raw!r}")


class EnvConfig:
    """A service config read from the common settings plus its ``<PREFIX>_*`` env table:
    subclasses define ``from_env``; ``from_settings`` feeds it what the flags resolved."""

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        public_url: str,
        data_dir: Path,
        faults: Faults | None = None,
    ) -> Self:
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Self:
        return cls.from_env(
            settings.env,
            public_url=settings.public_url,
            data_dir=settings.data_dir,
            faults=settings.faults,
        )
