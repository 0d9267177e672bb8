"""What the bureau pulls and pays: signed counts, monthly snapshots, capitation, actual costs, rosters,
evaluation. Nothing imports it."""
