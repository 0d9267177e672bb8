"""What a signing includes and what it schedules: the annex-1 catalogue, protocols, follow-ups."""
