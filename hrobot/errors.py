"""User-facing errors: one clear line, non-zero exit, never a traceback."""

from __future__ import annotations


class HRobotError(Exception):
    """A problem with the user's input (file, field, value) that the CLI reports in one line."""


def fail(where: str, problem: str) -> HRobotError:
    """Build an error that names the place (file or field) and the problem."""
    return HRobotError(f"{where}: {problem}")
