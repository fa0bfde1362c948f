"""Where pgtop writes its log: never the terminal (Textual draws on it), always a file."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs


def log_path() -> Path:
    return platformdirs.user_log_path("pgtop") / "pgtop.log"


def configure(path: Path | None = None, level: int = logging.INFO) -> Path:
    """Send pgtop's and psycopg's logging (server notices included) to a small rotating file."""
    target = path or log_path()
    root = logging.getLogger()
    for existing in root.handlers:
        if getattr(existing, "baseFilename", None) == str(target.resolve()):
            return target  # already configured: one handler per file, however often called
    target.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        target, maxBytes=1_000_000, backupCount=2, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for existing in list(root.handlers):
        if isinstance(existing, logging.StreamHandler) and not isinstance(
            existing, logging.FileHandler
        ):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return target
