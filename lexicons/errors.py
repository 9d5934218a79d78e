"""The two error types of the package: bad data, and bad schemas."""

from __future__ import annotations

__all__ = ["LexiconSchemaError", "LexiconValidationError"]


class LexiconValidationError(ValueError):
    """A value does not match its lexicon (or the ATProto data model).

    `path` points at the offending part of the value, e.g. `$.boundary.values[0].value`,
    so a server can put it in an `InvalidRequest` message and a harness in a failure report.
    """

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


class LexiconSchemaError(ValueError):
    """A lexicon document is malformed, or a schema the catalog needs is missing."""
