"""One module per sub-command; cli.py parses and dispatches."""
