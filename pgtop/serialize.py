"""Model records → JSON-ready values (dicts, lists, ISO times); the inverse is not needed yet."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any


def jsonable(value: Any) -> Any:
    """Recursively convert dataclasses (incl. their properties listed in `derived`), enums,
    datetimes and mappings; NaN/inf become None so the document is strict JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in _DERIVED.get(type(value).__name__, ()):
            out[name] = jsonable(getattr(value, name))
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# Properties worth having in documents (computed, so not dataclass fields).
_DERIVED: dict[str, tuple[str, ...]] = {
    "ServerStats": ("connections_pct",),
    "Pool": ("servers_in_use", "utilisation_pct"),
    "Statement": ("hit_ratio",),
    "Progress": ("pct",),
    "Archiver": ("failing",),
}


def dumps(document: Any) -> str:
    """Strict, ASCII-only JSON: control and bidi characters from the server arrive escaped."""
    return json.dumps(jsonable(document), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
