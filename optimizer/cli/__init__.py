"""The `patrolopt` command line: the only package that prints or chooses exit codes (0 done,
1 internal error, 2 bad input, 3 infeasible plan). `planning` holds the group and the commands
that plan, `records` those that compare, decide and keep the record."""

from optimizer.cli.planning import main
from optimizer.cli.records import COMMANDS

for command in COMMANDS:
    main.add_command(command)

__all__ = ["main"]
