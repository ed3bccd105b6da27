"""Why a memory cannot be opened: each store raises these, and the server and CLI say them plainly."""

from __future__ import annotations


class MemoryMismatch(RuntimeError):
    """The directory holds memory made by another encoder (its vectors live in another space)."""


class MemoryLocked(RuntimeError):
    """Another process (or another open store in this one) is writing this memory directory."""
