"""Baseline documents: what a server looked like over a window, written so that a person can
read it and pgtop can read it back and compare it. UI-free (no textual, plotext or pgtop.ui).

* :mod:`.document`: the record (frozen dataclasses), the schema version, :class:`BaselineError`;
* :mod:`.build`: samples over a window → :class:`Baseline` (pure);
* :mod:`.settings`: the settings that matter and the ops playbook's advice;
* :mod:`.markdown`: :func:`render` (TOML front matter + Markdown), :func:`parse`, :func:`load`;
* :mod:`.diff`: :func:`diff` of two baselines, :func:`render_diff`.
"""

from pgtop.baseline.build import build
from pgtop.baseline.diff import BaselineDiff, diff, render_diff
from pgtop.baseline.document import SCHEMA_VERSION, Baseline, BaselineError
from pgtop.baseline.markdown import default_name, load, parse, render

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineDiff",
    "BaselineError",
    "build",
    "default_name",
    "diff",
    "load",
    "parse",
    "render",
    "render_diff",
]
