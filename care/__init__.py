"""What is delivered: follow-up plans, visits and their records, worklists, clinical feedback."""
