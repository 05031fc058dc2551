"""`patrolopt serve`: the plans of an output folder and store as a web service for planners,
training departments, leadership and stations (SPEC §14). `create_app` (in `app`) needs the
`serve` extra; `users`, `roles` and `access` work with the main install alone."""
