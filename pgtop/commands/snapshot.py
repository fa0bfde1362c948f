"""`pgtop snapshot`: sample for a window without a terminal, write one document."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pgtop import __version__, logs, units
from pgtop.atomic import WriteError, write_atomically
from pgtop.baseline import default_name, render
from pgtop.commands.monitor import config_from_args
from pgtop.commands.targets import Targets, make_sources, preflight
from pgtop.conninfo import PgtopError, UsageError
from pgtop.health import worst_first
from pgtop.model import AnySample, BouncerSample, Sample
from pgtop.serialize import dumps
from pgtop.window import window_statements


def run_snapshot(args: argparse.Namespace) -> int:
    markdown = args.format == "markdown"
    if args.force and args.output is None:
        where = "into the snapshots folder under a new name" if markdown else "to stdout"
        raise UsageError(f"--force replaces an -o FILE: without -o the document goes {where}")
    config = config_from_args(args)
    duration = args.duration if args.duration is not None else float(config.snapshot.duration_s)
    if args.interval > duration:
        given = "--duration" if args.duration is not None else "[snapshot] duration_s"
        raise UsageError(
            f"--interval {args.interval:g} s is longer than the window ({given} {duration:g} s)"
        )
    targets = Targets.from_args(args)
    to_stdout = args.output == "-" or (args.output is None and not markdown)
    if to_stdout:
        output: Path | None = None
    elif args.output is not None:
        output = check_output(args.output, force=args.force)
    else:
        output = check_folder(Path(config.snapshot.output_dir))
    preflight(targets.primary, config.connection)
    logs.configure()
    samples = asyncio.run(_collect(targets, config, duration, args.interval))
    if markdown:
        baseline = _baseline(samples, targets, config, redact=args.redact)
        text = render(baseline)
        if output is not None and output.is_dir():
            output = output / default_name(baseline)
    else:
        document = build_document(samples, targets, duration, args.interval)
        text = dumps(redacted(document) if args.redact else document)
    if output is None:
        sys.stdout.write(text)
        return 0
    write_document(output, text, force=args.force)
    print(f"pgtop snapshot: wrote {output}", file=sys.stderr)  # noqa: T201
    return 0


def check_folder(folder: Path) -> Path:
    """The default folder for documents (``[snapshot] output_dir``): created when missing,
    tried for real like an ``-o`` folder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PgtopError(
            f"cannot write in {folder}: {exc.strerror or type(exc).__name__}"
        ) from None
    check_output(str(folder / ".pgtop-probe"), force=False)
    return folder


def _baseline(samples: list[AnySample], targets: Targets, config: Any, *, redact: bool) -> Any:
    """The Markdown baseline of the window, with the index advice read at its end (on a short
    connection of its own; a failure is a note in the document, not an error)."""
    from pgtop.baseline import build
    from pgtop.collect.per_database import fetch_index_advice
    from pgtop.collect.source import SourceError
    from pgtop.conninfo import parse_dsn

    advice = None
    note = None
    try:
        advice = asyncio.run(fetch_index_advice(parse_dsn(targets.primary), config.connection))
    except SourceError as exc:
        note = f"index advice could not be read: {exc}"
    return build(samples, redact=redact, index_advice=advice, index_advice_note=note)


async def _collect(targets: Targets, config: Any, duration: float, interval: float) -> list[Any]:
    from pgtop.collect.sampler import Sampler

    sampler = Sampler(
        make_sources(targets, config),
        interval=interval,
        thresholds=config.thresholds,
        history_minutes=config.monitor.history_minutes,
    )
    # one extra interval so that even a zero-length window has two samples to compute rates from
    total = max(duration, 0.0) + interval + 0.2
    if not sys.stderr.isatty():
        return await sampler.collect(total)
    task = asyncio.create_task(sampler.collect(total))
    started = asyncio.get_running_loop().time()
    while not task.done():
        elapsed = asyncio.get_running_loop().time() - started
        _progress(min(1.0, elapsed / total), elapsed, total)
        await asyncio.wait({task}, timeout=0.5)
    _progress(1.0, total, total)
    sys.stderr.write("\n")
    return task.result()


def _progress(done: float, elapsed: float, total: float) -> None:
    """A one-line bar on stderr (a terminal only): redrawn in place."""
    width = 30
    filled = int(done * width)
    bar = "█" * filled + "·" * (width - filled)
    sys.stderr.write(
        f"\rpgtop snapshot: sampling {bar} {units.duration(elapsed)} of {units.duration(total)}"
    )
    sys.stderr.flush()


def redacted(document: dict[str, Any]) -> dict[str, Any]:
    """The JSON document without query texts: each becomes its first keyword."""
    from pgtop.baseline.build import first_keyword

    def scrub(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: scrub(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if isinstance(changes.get("query"), str):
                changes["query"] = first_keyword(changes["query"])
            return dataclasses.replace(value, **changes)
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(scrub(item) for item in value)
        return value

    scrubbed: dict[str, Any] = scrub(document)
    return scrubbed


def _latest(samples: list[AnySample], source: str) -> AnySample | None:
    connected = [s for s in samples if s.source == source and s.connected]
    if connected:
        return connected[-1]
    anything = [s for s in samples if s.source == source]
    return anything[-1] if anything else None


def build_document(
    samples: list[AnySample], targets: Targets, duration: float, interval: float
) -> dict[str, Any]:
    sources = list(dict.fromkeys(s.source for s in samples))
    latest = {name: _latest(samples, name) for name in sources}
    primary = latest.get("primary")
    bouncer = next((s for s in latest.values() if isinstance(s, BouncerSample)), None)
    replicas = [s for n, s in latest.items() if n.startswith("replica") and s is not None]
    health = worst_first([status for s in latest.values() if s for status in s.health])
    pg_primary = [s for s in samples if isinstance(s, Sample) and s.source == "primary"]
    connected = [s for s in pg_primary if s.connected]
    window = window_statements(connected[0], connected[-1]) if len(connected) >= 2 else []
    return {
        "pgtop": __version__,
        "document": "pgtop snapshot",
        "format_version": 1,
        "taken_at": datetime.now(UTC),
        "window": {
            "duration_s": duration,
            "interval_s": interval,
            "samples": len(pg_primary),
            "from": connected[0].taken_at if connected else None,
            "to": connected[-1].taken_at if connected else None,
        },
        "targets": targets.describe(),
        "server": _server(primary),
        "activity": primary.activity if isinstance(primary, Sample) else [],
        "activity_summary": primary.summary if isinstance(primary, Sample) else None,
        "locks": primary.locks if isinstance(primary, Sample) else [],
        "lock_counts": primary.lock_counts if isinstance(primary, Sample) else [],
        "replication": {
            "primary": primary.replication if isinstance(primary, Sample) else None,
            "replicas": [_replica(r) for r in replicas],
        },
        "pools": _pools(bouncer),
        "statements": {
            "status": primary.statements_status if isinstance(primary, Sample) else None,
            "window": window,
            "latest_interval": primary.statements if isinstance(primary, Sample) else [],
        },
        "progress": primary.progress if isinstance(primary, Sample) else [],
        "health": health,
    }


def _server(sample: AnySample | None) -> dict[str, Any] | None:
    if sample is None:
        return None
    return {
        "source": sample.source,
        "connected": sample.connected,
        "error": sample.error,
        "info": sample.info,
        "stats": sample.stats if isinstance(sample, Sample) else None,
        "messages": sample.messages,
    }


def _replica(sample: AnySample) -> dict[str, Any]:
    return {**(_server(sample) or {}), "replication": getattr(sample, "replication", None)}


def _pools(sample: BouncerSample | None) -> dict[str, Any] | None:
    if sample is None:
        return None
    return {
        "source": sample.source,
        "connected": sample.connected,
        "error": sample.error,
        "info": sample.info,
        "pools": sample.pools,
        "stats": sample.stats,
        "clients": sample.clients,
        "servers": sample.servers,
    }


def check_output(name: str | None, *, force: bool) -> Path | None:
    """``-o``, checked before anything is sampled: a file name (usage error otherwise), not
    an existing file unless ``--force`` (usage error), in a folder where a file can be
    created (runtime error naming the path and the reason). The folder is tried for real,
    with a temp file created and removed: as root ``os.access`` says yes to everything."""
    if name is None:
        return None
    path = Path(name)
    try:
        if not name.strip():
            raise UsageError("-o needs the name of a file to write")
        if path.is_dir():
            raise UsageError(f"-o {path} is a folder: give the name of a file to write")
        if path.exists() and not force:
            raise UsageError(f"{path} exists: choose another name or pass --force to replace it")
        folder = path.parent
        if not folder.is_dir():
            what = f"{folder} is not a folder" if folder.exists() else f"no folder {folder}"
            raise PgtopError(f"cannot write {path}: {what}")
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise PgtopError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def write_document(path: Path, text: str, *, force: bool) -> None:
    """The document, written atomically; an existing file is replaced only with ``--force``.

    :func:`check_output` passed before sampling; what fails here changed meanwhile (the folder
    went away, the file appeared): a runtime error, exit 1."""
    try:
        write_atomically(path, text, replace=force)
    except WriteError as exc:
        if exc.exists:
            raise PgtopError(
                f"{path} appeared while sampling: nothing written (pass --force to replace it)"
            ) from None
        raise PgtopError(f"{exc} (nothing written)") from None
