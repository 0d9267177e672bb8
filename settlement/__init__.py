"""What the bureau pulls and pays: signed counts, monthly snapshots, capitation, actual costs and the figures the
bureau files, the outpatient fund, the year-end, rosters, evaluation. Nothing imports it."""
