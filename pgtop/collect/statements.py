"""pg_stat_statements between ticks: per-interval rates, reset detection, and the text cache.

A read takes every entry's numeric columns (``showtext := false``; see the statements SQL for
the column order). Texts are fetched only for entries the cache lacks, in the NEXT tick's round
trip, and only for the top ``text_budget`` entries of the current order, so a pg_stat_statements
larger than the cache never makes pgtop fetch texts every tick.

Reading costs the server about ``cost_us_per_entry`` per entry (measured: ~3 µs, 28.5 ms at
~9,600 entries). With many entries the tracker reads them only every :meth:`read_every_s`
seconds so the average stays within ``budget_ms_per_s``; the ticks in between drop the
statements probes (:meth:`tick_keys`) and get the last read's records again (``update(None …)``).
Rates of a read are over the whole time since the previous read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pgtop.collect.rates import decreased
from pgtop.collect.rows import utc
from pgtop.model import Statement, StatementsStatus
from pgtop.redact import redact_secrets

__all__ = ["COLUMNS", "StatementTracker", "TextCache"]

# The statements probe's columns, in order (every variant returns exactly these).
COLUMNS = (
    "userid",
    "dbid",
    "toplevel",
    "queryid",
    "calls",
    "total_exec_time",
    "rows",
    "shared_blks_hit",
    "shared_blks_read",
    "temp_blks",
    "io_ms",
    "mean_exec_time",
    "stddev_exec_time",
    "min_exec_time",
    "max_exec_time",
)
_USERID, _DBID, _TOPLEVEL, _QUERYID = 0, 1, 2, 3
_CALLS, _EXEC, _ROWS, _HIT, _READ, _TEMP, _IO = 4, 5, 6, 7, 8, 9, 10
_MEAN, _STDDEV, _MIN, _MAX = 11, 12, 13, 14
_COUNTERS = slice(_CALLS, _IO + 1)

Key = tuple[int, int, bool | None, int]
TextKey = tuple[int, int, int]
"""(userid, dbid, queryid): one entry's own text. A queryid alone is not enough: two roles'
entries share it when their texts differ only in comments, aliases, constants or spacing, and
each must show its own (``SELECT 1 AS one /* app=billing */`` is not ``SELECT $1``)."""

# The probes a read of pg_stat_statements consists of (dropped together on the ticks between).
READ_PROBES = frozenset({"statements", "statements_info"})


class TextCache:
    """Query texts by entry (:data:`TextKey`): LRU, bounded by entry count; very long texts are
    cut. Texts are stored with their secret literals masked
    (:func:`pgtop.redact.redact_secrets`): a record never holds a password."""

    def __init__(self, capacity: int = 5000, max_chars: int = 65536) -> None:
        self.capacity = capacity
        self.max_chars = max_chars
        self._texts: OrderedDict[TextKey, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, key: object) -> bool:
        return key in self._texts

    def get(self, key: TextKey) -> str | None:
        text = self._texts.get(key)
        if text is not None:
            self._texts.move_to_end(key)
        return text

    def put(self, key: TextKey, text: str) -> None:
        if len(text) > self.max_chars:
            # masked after the cut: a literal the cut leaves open is masked to the end
            text = redact_secrets(text[: self.max_chars]) + " …"
        else:
            text = redact_secrets(text)
        self._texts[key] = text
        self._texts.move_to_end(key)
        while len(self._texts) > self.capacity:
            self._texts.popitem(last=False)

    def store(self, rows: Iterable[Sequence[Any]], asked: Iterable[TextKey]) -> None:
        """Keep fetched ``(userid, dbid, queryid, query)`` rows (the fetch asks by queryid:
        entries of other roles come too and are kept while they are asked for); entries asked
        for but gone are cached as ""."""
        found: dict[TextKey, str] = {}
        for userid, dbid, queryid, query in rows:
            found.setdefault((int(userid), int(dbid), int(queryid)), query or "")
        for key in asked:
            self.put(key, found.get(key, ""))


class StatementTracker:
    """Turns successive statements-probe results into Statement records with interval rates."""

    def __init__(
        self,
        texts: TextCache | None = None,
        *,
        text_budget: int = 1000,
        urgent: int = 50,
        backlog_every: int = 10,
        budget_ms_per_s: float = 4.0,
        cost_us_per_entry: float = 3.0,
        max_read_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.texts = texts if texts is not None else TextCache()
        self.text_budget = text_budget
        self.urgent = urgent  # missing texts in the top this many: fetch on the next tick
        self.backlog_every = backlog_every  # other missing texts: at most every this many ticks
        self.budget_ms_per_s = budget_ms_per_s
        self.cost_us_per_entry = cost_us_per_entry
        self.max_read_every_s = max_read_every_s
        self._clock = clock
        self._since_fetch = backlog_every
        self._previous: dict[Key, Sequence[Any]] = {}
        self._records: dict[Key, Statement] = {}
        self._info: tuple[int | None, datetime | None] | None = None
        self._pending_reset = False
        self._read_at: float | None = None  # clock() of the last read; None: read next tick
        self._unread_s: float | None = 0.0  # interval seconds of the ticks since the last read
        self._last: tuple[tuple[Statement, ...], StatementsStatus] | None = None
        self._last_keys: tuple[TextKey, ...] = ()  # the text key of each of _last's records
        self.wanted_texts: list[TextKey] = []
        self.unknown_oids = False
        self.reads = 0  # reads of pg_stat_statements so far (tests, benchmarks)

    def forget(self, *, reset: bool = False) -> None:
        """Drop the previous snapshot (new server or restart); ``reset`` flags the next status."""
        self._previous = {}
        self._records = {}
        self._info = None
        self._pending_reset = self._pending_reset or reset
        self._read_at = None
        self._unread_s = 0.0
        self._last = None
        self._last_keys = ()

    # ------------------------------------------------------------------ read schedule

    def read_every_s(self) -> float:
        """Seconds between reads for the current number of entries: 0 (every tick) while the
        estimated cost fits the budget, at most ``max_read_every_s``."""
        cost_ms = len(self._previous) * self.cost_us_per_entry / 1000.0
        return min(self.max_read_every_s, cost_ms / self.budget_ms_per_s)

    def read_due(self) -> bool:
        """Whether this tick reads pg_stat_statements (always the first, and after forget)."""
        if self._read_at is None or self._last is None:
            return True
        # a tick that comes a little early (timer jitter) still counts as on time
        return self._clock() - self._read_at + 0.1 >= self.read_every_s()

    def tick_keys(self, keys: Iterable[str]) -> list[str]:
        """The probe names of this tick: the statements probes dropped when no read is due.

        The hook for the source: ``keys = self._tracker.tick_keys(self._plan)``.
        """
        if self.read_due():
            return list(keys)
        return [key for key in keys if key not in READ_PROBES]

    # ------------------------------------------------------------------ per tick

    def update(
        self,
        rows: Sequence[Sequence[Any]] | None,
        info: Mapping[str, Any] | None,
        seconds: float | None,
        roles: Mapping[int, str],
        databases: Mapping[int, str],
    ) -> tuple[tuple[Statement, ...], StatementsStatus]:
        """Records of this tick. ``rows`` None: not read this tick (see :meth:`tick_keys`): the
        last read's records again (texts fetched meanwhile filled in), and the interval seconds
        are kept for the next read's rates."""
        if rows is None:
            return self._repeat(seconds)
        self.reads += 1
        self._read_at = self._clock()
        if seconds is not None and self._unread_s is not None:
            seconds += self._unread_s
        else:
            seconds = None
        self._unread_s = 0.0
        dealloc = int(info["dealloc"]) if info and info["dealloc"] is not None else None
        stats_reset = utc(info["stats_reset"]) if info else None
        reset = self._pending_reset
        all_reset = False
        if self._info is not None:
            old_dealloc, old_reset = self._info
            if old_reset != stats_reset or (
                dealloc is not None and old_dealloc is not None and dealloc < old_dealloc
            ):
                reset = all_reset = True
            elif dealloc != old_dealloc:
                reset = True  # entries were evicted: a re-added one restarts its counters
        self._info = (dealloc, stats_reset)
        self._pending_reset = False
        if all_reset:
            seconds = None

        previous = self._previous
        current: dict[Key, Sequence[Any]] = {}
        records = self._records
        current_records: dict[Key, Statement] = {}
        out: list[tuple[Statement, TextKey]] = []
        unknown = False
        for row in rows:
            key: Key = (row[_USERID], row[_DBID], row[_TOPLEVEL], row[_QUERYID])
            text_key: TextKey = (row[_USERID], row[_DBID], row[_QUERYID])
            current[key] = row
            prev = previous.get(key)
            user = roles.get(row[_USERID])
            database = databases.get(row[_DBID])
            unknown = unknown or user is None or database is None
            same = records.get(key) if seconds and prev == row else None
            if (
                same is not None
                and same.calls_per_s == 0
                and same.user == user
                and same.database == database
                and (same.query or text_key not in self.texts)
            ):
                # idle since the last two reads: the very same record (the history ring holds
                # one object for thousands of samples, not one each)
                current_records[key] = same
                out.append((same, text_key))
                continue
            rates: tuple[float | None, ...] = (None,) * 8
            if prev is not None and seconds:
                if decreased(prev[_COUNTERS], row[_COUNTERS]):
                    reset = True
                else:
                    rates = _rates(prev, row, seconds)
            record = Statement(
                queryid=row[_QUERYID],
                user=user,
                database=database,
                query=self.texts.get(text_key) or "",
                calls_per_s=rates[0],
                exec_ms_per_s=rates[1],
                mean_ms_interval=rates[2],
                rows_per_s=rates[3],
                shared_hit_per_s=rates[4],
                shared_read_per_s=rates[5],
                temp_blks_per_s=rates[6],
                io_ms_per_s=rates[7],
                calls=int(row[_CALLS]),
                total_exec_ms=float(row[_EXEC]),
                mean_ms=float(row[_MEAN]),
                stddev_ms=float(row[_STDDEV]),
                min_ms=float(row[_MIN]),
                max_ms=float(row[_MAX]),
                rows=int(row[_ROWS]),
                shared_hit=int(row[_HIT]),
                shared_read=int(row[_READ]),
            )
            current_records[key] = record
            out.append((record, text_key))
        self._previous = current
        self._records = current_records
        self.unknown_oids = unknown
        out.sort(key=lambda pair: _order(pair[0]))
        wanted = [k for _, k in out[: self.text_budget] if k not in self.texts]
        urgent = any(k not in self.texts for _, k in out[: self.urgent])
        self._since_fetch += 1
        # Reading texts makes the server read its whole query-text file: do it for the rows
        # people look at right away, for the long tail only now and then.
        due = urgent or self._since_fetch >= self.backlog_every
        self.wanted_texts = wanted if due else []
        if self.wanted_texts:
            self._since_fetch = 0
        status = StatementsStatus(
            available=True, dealloc=dealloc, stats_reset=stats_reset, reset_detected=reset
        )
        self._last = (tuple(s for s, _ in out), status)
        self._last_keys = tuple(k for _, k in out)
        return self._last

    def _repeat(self, seconds: float | None) -> tuple[tuple[Statement, ...], StatementsStatus]:
        if self._unread_s is not None and seconds is not None:
            self._unread_s += seconds
        else:
            self._unread_s = None  # a tick without an interval: the next read has no rates
        fetched, self.wanted_texts = self.wanted_texts, []
        if self._last is None:
            return (), StatementsStatus(available=True)
        statements, status = self._last
        if fetched:
            filled = [
                replace(s, query=text) if not s.query and (text := self.texts.get(k)) else s
                for s, k in zip(statements, self._last_keys, strict=True)
            ]
            if any(a is not b for a, b in zip(filled, statements, strict=True)):
                statements = tuple(filled)
        self._last = (statements, replace(status, reset_detected=False, read_now=False))
        return self._last


def _rates(prev: Sequence[Any], row: Sequence[Any], seconds: float) -> tuple[float | None, ...]:
    calls = row[_CALLS] - prev[_CALLS]
    exec_ms = row[_EXEC] - prev[_EXEC]
    return (
        calls / seconds,
        exec_ms / seconds,
        exec_ms / calls if calls else None,
        (row[_ROWS] - prev[_ROWS]) / seconds,
        (row[_HIT] - prev[_HIT]) / seconds,
        (row[_READ] - prev[_READ]) / seconds,
        (row[_TEMP] - prev[_TEMP]) / seconds,
        (row[_IO] - prev[_IO]) / seconds,
    )


def _order(s: Statement) -> tuple[int, float]:
    """By interval exec time per second, descending; entries without a rate after, by total."""
    if s.exec_ms_per_s is not None:
        return (0, -s.exec_ms_per_s)
    return (1, -s.total_exec_ms)
