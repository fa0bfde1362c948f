"""Widgets shared by the panes: keyed table, header, health bar, charts."""
