"""One module per ``cardwright`` subcommand; ``cardwright.cli`` registers them."""
