"""The command line: `myflix <command>`, one thin module per command group (parse, call operations/, print)."""
