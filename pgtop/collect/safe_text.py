"""Tolerant text decoding: server text that is not valid UTF-8 never raises.

A database created with ``ENCODING 'SQL_ASCII'`` stores and returns whatever bytes clients sent,
and pg_stat_activity / pg_stat_statements pass them on to every other database's sessions. psycopg's
own text loader would raise ``UnicodeDecodeError`` on such a row and lose the whole tick; this one
decodes with ``errors="replace"`` (invalid bytes become U+FFFD).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import adapt, sql
from psycopg.abc import AdaptContext, Buffer

__all__ = ["TEXT_TYPES", "ReplacingTextLoader", "prepare_session", "register_tolerant_text"]

TEXT_TYPES: tuple[str | int, ...] = (
    "text",
    "varchar",
    "name",
    "bpchar",
    '"char"',
    705,
)  # 705: unknown


_SQL_ASCII_CLIENT = sql.SQL("SET client_encoding TO 'SQL_ASCII'")


class ReplacingTextLoader(adapt.Loader):
    """Text-format loader for string types: UTF-8, invalid bytes replaced."""

    def load(self, data: Buffer) -> str:
        return str(data, "utf-8", "replace")  # decodes the buffer without copying it first


def register_tolerant_text(context: AdaptContext) -> None:
    """Use :class:`ReplacingTextLoader` for every string type on ``context`` (a connection)."""
    for name in TEXT_TYPES:
        context.adapters.register_loader(name, ReplacingTextLoader)


async def prepare_session(conn: psycopg.AsyncConnection[Any]) -> None:
    """Make a fresh session safe to read any server text.

    The session asks for UTF-8. In a SQL_ASCII database the server cannot convert to UTF-8 and
    instead *validates* what it sends, failing the whole statement on the first invalid byte;
    there the session switches to client_encoding SQL_ASCII (bytes as stored; PgBouncer tracks
    and restores client_encoding per client) and the tolerant loader does the decoding.
    """
    register_tolerant_text(conn)
    if conn.info.parameter_status("server_encoding") == "SQL_ASCII":
        await conn.execute(_SQL_ASCII_CLIENT)
