"""The narrow interface between servers and everything else: connect, poll → Sample, close."""

from __future__ import annotations

from typing import Protocol

from pgtop.model import AnySample, ServerInfo


def first_line(exc: BaseException) -> str:
    """The error's first line, whitespace collapsed (the class name when it has no text)."""
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


class SourceError(Exception):
    """A failure worth one line to the user; `fix` says what would help, when known."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        message = " ".join(super().__str__().split())
        return f"{message}: {self.fix}" if self.fix else message


class ConnectionLostError(SourceError):
    """The connection broke or never came up; the sampler reconnects with backoff."""


class Source(Protocol):
    """One server pgtop watches. Implementations: PostgresSource, BouncerSource."""

    @property
    def name(self) -> str: ...

    async def connect(self) -> ServerInfo:
        """Open the connection and probe capabilities; ConnectionLostError on failure."""
        ...

    async def poll(self) -> AnySample:
        """One tick: one round trip, one connected Sample; ConnectionLostError if the link broke."""
        ...

    async def close(self) -> None: ...
