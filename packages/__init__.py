"""What can be promised: the annex-1 package catalogue, follow-up protocols, centre prices, eligibility."""
