"""Optional subcommands plugged into the CLI (one module per subcommand, imported lazily)."""
