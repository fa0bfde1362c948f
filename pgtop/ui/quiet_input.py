"""Textual's Linux driver with an input thread that sleeps until there is input.

Textual's input thread wakes every 0.1 s, whether a key came or not, so that its parser can time
out a lone ESC (an ESC key, or the start of a sequence whose rest never came). Ten wake-ups a
second cost ~1 ms of CPU per second: on an idle server at the default refresh, a fifth of all
pgtop does. :class:`QuietInputDriver` waits in ``select()`` with no timeout, except while the
parser holds a partial sequence (then until the parser's own deadline), and a pipe wakes it to
stop. Everything else is Textual's.

Private names it relies on (Textual 8.2, pinned): ``Parser._timeout_time`` (the parser's
deadline), ``XTermParser``, ``LinuxDriver.fileno`` / ``exit_event`` / ``process_message`` /
``_debug``, ``textual._time.get_time`` (the parser's clock). Without ``_timeout_time`` it
runs Textual's own loop (``quiet`` False); tests/test_ui_quiet_input.py fails then.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from codecs import getincrementaldecoder
from typing import Any

from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

__all__ = ["QuietInputDriver"]

_STOP_WAIT_S = 1.0
"""After the wake-up byte: how long to wait for Textual to flag the stop (it does so at once)."""


class QuietInputDriver(LinuxDriver):
    """LinuxDriver whose input thread wakes only for input, a parser deadline, or to stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.quiet = False
        """Whether the input thread runs the quiet loop (False: Textual's own)."""
        self.wakeups = 0
        """Returns from select() of the quiet loop (tests)."""

    def disable_input(self) -> None:
        if not self.exit_event.is_set():
            with contextlib.suppress(OSError):  # a full pipe already wakes it
                os.write(self._wake_write, b"\0")
        super().disable_input()

    def close(self) -> None:
        super().close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def run_input_thread(self) -> None:
        parser = XTermParser(self._debug)
        if not hasattr(parser, "_timeout_time"):
            super().run_input_thread()
            return
        self.quiet = True
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_read, selectors.EVENT_READ)
        decode = getincrementaldecoder("utf-8")().decode
        try:
            while not self.exit_event.is_set():
                deadline = parser._timeout_time
                timeout = None if deadline is None else max(0.0, deadline - get_time())
                ready = {key.fd for key, _ in selector.select(timeout)}
                self.wakeups += 1
                if self._wake_read in ready:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_read, 64)
                    self.exit_event.wait(_STOP_WAIT_S)
                    continue
                if self.fileno in ready:
                    data = decode(os.read(self.fileno, 1024 * 4))
                    if not data:  # stdin piped and at its end
                        break
                    for event in parser.feed(data):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
