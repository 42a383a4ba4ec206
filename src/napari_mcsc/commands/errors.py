"""The error a command raises for arguments that cannot work (exit status 2, one line)."""

from __future__ import annotations


class UsageError(ValueError):
    """A command was given arguments that cannot work; the message says why."""
