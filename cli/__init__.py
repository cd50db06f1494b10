"""The command line: `myflix <command>`, one module per command group."""
