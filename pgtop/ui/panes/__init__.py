"""One module per pane: activity, locks, replication, pools, statements."""
