"""The garbage collector as the app sets it on a real terminal, inside a test process.

Headless, the app leaves the collector alone (``PgtopApp.on_mount``); on a terminal it calls
:func:`pgtop.ui.app.settle_gc`. A test that times keys in a pilot app must time what a user
gets: without it, a full collection walks the whole test session's heap (every earlier test's
leftovers; 40-60 ms alone with this module's fixtures, more deep into the suite) and lands on
whichever key is pressed then.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from pgtop.ui.app import settle_gc

__all__ = ["product_gc"]


@contextmanager
def product_gc() -> Iterator[None]:
    """settle_gc() for the block; then the objects frozen by it are collectable again and the
    thresholds are back (later tests keep the test session's collector)."""
    thresholds = gc.get_threshold()
    settle_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
