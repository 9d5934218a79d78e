"""The errors the harness reports to its user as one line and an exit code (H-CLI-02, H-CLI-04).

Anything raised as a ``HarnessError`` is an expected condition (bad input, unreachable target);
the command line prints its message and exits with its code, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_CONFORMING = 1
EXIT_USAGE = 2
EXIT_COULD_NOT_RUN = 3


class HarnessError(Exception):
    """An expected failure with a one-line message and the exit code it maps to.

    ``details`` holds optional extra lines (e.g. the tail of a service log) that the command
    line prints below the message; the message itself stays a single line.
    """

    default_exit_code = EXIT_COULD_NOT_RUN

    def __init__(self, message: str, exit_code: int | None = None, details: str = "") -> None:
        # One line: a message with newlines would break the "one clear line" promise.
        self.message = " ".join(message.split("\n")).strip()
        self.exit_code = self.default_exit_code if exit_code is None else exit_code
        self.details = details
        super().__init__(self.message)


class UsageError(HarnessError):
    """The command line was used wrongly (unknown profile, unknown requirement ID, ...)."""

    default_exit_code = EXIT_USAGE


class ConfigError(HarnessError):
    """The target profile or environment is wrong (missing file, bad field, missing secret)."""

    default_exit_code = EXIT_USAGE


class TargetUnreachable(HarnessError):
    """A URL the run needs does not answer; the harness could not run (exit 3)."""

    default_exit_code = EXIT_COULD_NOT_RUN
