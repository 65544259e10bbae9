"""One module per ``mrspipe`` subcommand; see :data:`mrspipe.cli.COMMANDS`."""
