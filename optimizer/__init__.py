"""Patrol allocation, scenarios, the monthly cycle, the plan store, reports and the CLI."""
