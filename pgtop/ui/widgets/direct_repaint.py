"""Telling the screen about a repaint at once instead of through two messages.

When a widget calls ``refresh()``, Textual posts it a Prompt; the widget's message loop wakes,
finds its queue empty, goes idle and posts an Update to its screen; the screen's loop wakes and
marks the widget dirty for its next frame. pgtop's table, text lines and charts refresh every
tick, seven or so widgets: each of those round trips costs two task wake-ups and two messages
(~45 us), a twentieth of what a tick costs to draw.

:class:`DirectRepaint` marks the widget dirty on its screen and starts the screen's update
timer right away — what Screen does on that Update message and on going idle. It does so only
for a plain repaint of a mounted, displayed widget with no callbacks waiting (``check_idle``
also wakes the pump to run those); anything more (a layout, a scroll, styles to refresh, a
recompose) takes Textual's path. The frame itself is still drawn by the timer,
once, after the tick's updates (``App.batch_update`` holds it off until they are all made).

Relies on Screen internals (``_dirty_widgets``, ``_update_timer``) and Widget's refresh flags,
listed in docs/architecture.md; without them, Textual's path is taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.dom import NoScreen
from textual.screen import Screen
from textual.widget import Widget

__all__ = ["DirectRepaint"]

_MORE_THAN_A_REPAINT = (
    "_layout_required",
    "_scroll_required",
    "_refresh_styles_required",
    "_recompose_required",
)
_SUPPORTED = hasattr(Screen, "_update_timer") and hasattr(Screen, "_on_update")


if TYPE_CHECKING:
    _Mixin = Widget
else:
    _Mixin = object


class DirectRepaint(_Mixin):
    """A widget whose repaints reach its screen without messages (see the module docstring).

    A mixin, first among the bases: as a Widget subclass it would carry Widget's class
    settings (``can_focus = False``) ahead of the widget's own bases."""

    def check_idle(self) -> None:
        if not (_SUPPORTED and self._repaint_now()):
            super().check_idle()

    def _repaint_now(self) -> bool:
        if (
            not getattr(self, "_repaint_required", False)
            or any(getattr(self, flag, True) for flag in _MORE_THAN_A_REPAINT)
            or getattr(self, "_next_callbacks", True)  # check_idle also wakes the pump for them
            or not self.is_mounted
            or self._closing
            or not self.display
        ):
            return False
        try:
            screen = self.screen
        except NoScreen:
            return False
        dirty = getattr(screen, "_dirty_widgets", None)
        if not isinstance(dirty, set) or screen not in screen._compositor:
            return False
        self._repaint_required = False
        dirty.add(self)
        screen._update_timer.resume()
        return True
