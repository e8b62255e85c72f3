"""The package's own user-facing errors share one base class, so the CLI can tell them from bugs.

Each family keeps its module and its standard-library base too (``ConfigError`` is still a
``ValueError``, ``MediaError`` a ``ValueError``, ``ImageError`` an ``OSError``, ...), so existing
``except`` clauses keep working. Raise one of these for anything a user can cause and fix (a missing or
malformed file, a bad option); the message names the file and what was expected.
"""

from __future__ import annotations

__all__ = ["SmplestxError", "UsageError"]


class SmplestxError(Exception):
    """Base class of every error a user can cause and fix; the CLI prints it as one line."""


class UsageError(SmplestxError, ValueError):
    """A bad combination or value of options (command line or API arguments)."""
