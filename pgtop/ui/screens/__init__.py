"""Screens pushed over the monitor: details, help."""
