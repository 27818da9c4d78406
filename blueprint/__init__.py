"""The ``blueprint`` command-line tool: offline preview, snapshots, policy report and ops commands."""
